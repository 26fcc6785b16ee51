// flightctl-pam-issuer: a small OpenID Connect provider for installs without one. Users log in with their host
// credentials (PAM) or as the bootstrap admin; Linux groups become roles and organizations. Endpoints under the
// issuer URL's path: discovery, jwks, authorize (login form), login, token, userinfo, logout.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import { createLogger } from "../../lib/logger.js";
import { bootstrapAuthenticator } from "./bootstrap.js";
import { clientPolicy } from "./clients.js";
import { authorize, login, type CodeGrant, type FlowContext, type PendingLogin } from "./flows.js";
import { token, userinfo, type GrantContext } from "./grants.js";
import { OAuthError, readBody, redirect, sendHtml, sendJson, TtlMap } from "./http.js";
import { messagePage } from "./login-page.js";
import { loadPam, pamAuthenticator, pamServiceConfigured } from "./pam.js";
import { loadSigningKey } from "./tokens.js";
import { chain, type UserAuthenticator } from "./users.js";
import { loadConfig, type RateLimitSettings } from "../config.js";
import { clientIp, trustedProxies } from "../platform/client-ip.js";
import { createLimiter, createLoginThrottle } from "../platform/rate-limit.js";
import { listen, type Listening } from "../platform/listen.js";
import type { LoginGuard } from "./login-guard.js";
import { quote } from "../../lib/quote.js";

export interface PamIssuerOptions {
  /** Public URL of the issuer, e.g. https://localhost:8444/api/v1/auth (its path prefixes every endpoint). */
  issuerUrl: string;
  /** The signing key lives in <dataDir>/pam-issuer/signing-key.json. */
  dataDir: string;
  clientId?: string;
  /** Makes the client confidential (secret required at /token); without it the client is public and PKCE required. */
  clientSecret?: string;
  /** Allowed redirect URIs (exact; a loopback one also allows any port and loopback host, RFC 8252). */
  redirectUris: string[];
  pamService?: string;
  /** Seconds. */
  accessTokenTtl?: number;
  /** Seconds. */
  refreshTokenTtl?: number;
  bootstrapAdmin?: { username: string; password: string };
  /** Replaces the bootstrap + PAM chain (tests, other backends). */
  authenticator?: UserAuthenticator;
  /** Per-IP limit of token/authorize/login, failed-login lockout, trusted proxies (default: server/config.ts's). */
  rateLimits?: RateLimitSettings;
  /** Clock difference allowed between replicas verifying each other's tokens, seconds (default 30). */
  clockSkewSec?: number;
  log?: Logger;
}

export interface PamIssuer {
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): void;
}

export const SCOPES = ["openid", "profile", "email", "roles", "offline_access"];
const DEFAULT_SCOPE = "openid profile email roles offline_access";

/** The bootstrap admin first, then PAM; warns when PAM cannot work as configured. */
function defaultAuthenticator(opts: PamIssuerOptions, log: Logger): UserAuthenticator {
  const list: UserAuthenticator[] = [];
  if (opts.bootstrapAdmin) list.push(bootstrapAuthenticator(opts.bootstrapAdmin));
  const service = opts.pamService ?? "flightctl";
  const pam = loadPam();
  if (!pam) {
    log.warn(
      "authenticate-pam is not built on this machine (needs libpam headers at npm install): only the bootstrap admin can log in; see docs/pam-issuer.md",
    );
  } else {
    list.push(pamAuthenticator(pam, service));
    if (!pamServiceConfigured(service)) {
      log.warn(
        { service },
        `/etc/pam.d/${service} does not exist: libpam falls back to /etc/pam.d/other for this service; create it (see docs/pam-issuer.md)`,
      );
    }
  }
  return chain(list);
}

export function createPamIssuer(opts: PamIssuerOptions): PamIssuer {
  const log = opts.log ?? createLogger("flightctl-pam-issuer");
  const issuer = opts.issuerUrl.replace(/\/+$/, "");
  const prefix = new URL(issuer).pathname.replace(/\/+$/, "");
  const client = clientPolicy(opts.clientId ?? "flightctl-client", opts.clientSecret || undefined, opts.redirectUris);
  const users = opts.authenticator ?? defaultAuthenticator(opts, log);
  const normalizeScope = (scope: string | undefined) => {
    const asked = [...new Set((scope ?? DEFAULT_SCOPE).split(/\s+/).filter((s) => SCOPES.includes(s)))];
    return asked.length ? asked.join(" ") : "openid";
  };
  const key = loadSigningKey(opts.dataDir);
  key.catch((err: unknown) => log.error({ err }, "cannot load or create the signing key"));
  const pending = new TtlMap<PendingLogin>();
  const codes = new TtlMap<CodeGrant>();
  const limits = opts.rateLimits ?? loadConfig({}).rateLimits;
  // Loopback is always trusted: the API forwards the web UI's token exchanges with the user's address.
  const proxies = trustedProxies([...limits.trustedProxies, "127.0.0.0/8", "::1"]);
  const perIp = createLimiter(limits.authPerIp);
  const guard: LoginGuard = {
    users,
    log,
    throttle: createLoginThrottle(limits.login ?? { maxFailures: 0, windowSec: 1, lockoutSec: 1, lockoutMaxSec: 1 }),
  };
  const flows: FlowContext = { client, guard, pending, codes, loginAction: `${prefix}/login`, normalizeScope };
  const grants: GrantContext = {
    client,
    users,
    guard,
    revokedFamilies: new TtlMap<true>(),
    codes,
    normalizeScope,
    log,
    key,
    usedRefresh: new TtlMap<true>(),
    settings: {
      issuer,
      clientId: client.clientId,
      accessTtl: opts.accessTokenTtl ?? 3600,
      refreshTtl: opts.refreshTokenTtl ?? 7 * 24 * 3600,
      clockSkewSec: opts.clockSkewSec ?? 30,
    },
  };

  const discovery = () => ({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    userinfo_endpoint: `${issuer}/userinfo`,
    jwks_uri: `${issuer}/jwks`,
    end_session_endpoint: `${issuer}/logout`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token", "password"],
    code_challenge_methods_supported: ["S256"],
    scopes_supported: SCOPES,
    claims_supported: [
      "iss",
      "sub",
      "aud",
      "iat",
      "exp",
      "nonce",
      "preferred_username",
      "name",
      "email",
      "roles",
      "organizations",
      "scope",
    ],
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: ["ES256"],
    token_endpoint_auth_methods_supported: client.confidential ? ["client_secret_basic", "client_secret_post"] : ["none"],
  });

  function logout(q: URLSearchParams, res: ServerResponse) {
    // Stateless issuer: no session to end here; the client drops its tokens. We only send the browser back.
    const back = q.get("post_logout_redirect_uri");
    if (!back) return sendHtml(res, 200, messagePage("Logged out", "You are logged out of Flight Control."));
    if (!client.postLogoutAllowed(back)) throw new OAuthError(400, "invalid_request", "post_logout_redirect_uri is not registered");
    const to = new URL(back);
    const state = q.get("state");
    if (state) to.searchParams.set("state", state);
    redirect(res, to.toString());
  }

  async function route(req: IncomingMessage, res: ServerResponse, url: URL) {
    const path = url.pathname.startsWith(`${prefix}/`) ? url.pathname.slice(prefix.length) : "";
    const method = req.method === "HEAD" ? "GET" : req.method;
    const header = (h: string) => {
      const v = req.headers[h];
      return Array.isArray(v) ? v.join(",") : v;
    };
    const ip = clientIp(req.socket.remoteAddress, header, proxies) ?? "unknown";
    // Before authentication, per client IP: the endpoints that take credentials or start a login.
    if (path === "/token" || path === "/authorize" || path === "/login") {
      const wait = await perIp.take(ip);
      if (wait !== undefined) throw new OAuthError(429, "temporarily_unavailable", "too many requests; try again later", wait);
    }
    switch (`${method} ${path}`) {
      case "GET /.well-known/openid-configuration":
        return sendJson(res, 200, discovery(), { "cache-control": "public, max-age=300" });
      case "GET /jwks":
        return sendJson(res, 200, { keys: [(await key).publicJwk] }, { "cache-control": "public, max-age=300" });
      case "GET /authorize":
        return authorize(flows, url.searchParams, res);
      case "POST /login":
        return login(flows, await readBody(req), res, ip);
      case "POST /token":
        return sendJson(res, 200, await token(grants, await readBody(req), req, ip));
      case "GET /userinfo":
      case "POST /userinfo":
        return sendJson(res, 200, await userinfo(grants, req));
      case "GET /logout":
        return logout(url.searchParams, res);
      case "POST /logout":
        return logout(new URLSearchParams(await readBody(req)), res);
      default:
        throw new OAuthError(404, "not_found", `no endpoint ${req.method} ${url.pathname}`);
    }
  }

  return {
    handle(req, res) {
      const url = new URL(req.url ?? "/", "http://issuer.invalid");
      const browser = /\/(authorize|login|logout)$/.test(url.pathname);
      route(req, res, url).catch((e: unknown) => {
        if (res.headersSent) return res.destroy();
        if (!(e instanceof OAuthError)) {
          log.error({ err: e, path: url.pathname }, "PAM issuer request failed");
          e = new OAuthError(500, "server_error", "internal error");
        }
        const err = e as OAuthError;
        if (err.retryAfterMs !== undefined) res.setHeader("retry-after", String(Math.ceil(err.retryAfterMs / 1000)));
        if (browser) return sendHtml(res, err.status, messagePage("Cannot log in", err.message));
        const challenge: Record<string, string> = err.status === 401 ? { "www-authenticate": `Bearer error="${err.code}"` } : {};
        sendJson(res, err.status, { error: err.code, error_description: err.message }, challenge);
      });
    },
    close() {
      for (const m of [pending, codes, grants.usedRefresh, grants.revokedFamilies]) m.close();
    },
  };
}

export interface StartPamIssuerOptions extends PamIssuerOptions {
  /** "host:port"; or host and port separately. Default 0.0.0.0:8444. */
  address?: string;
  host?: string;
  port?: number;
  /** PEM key and certificate; without them the issuer serves plain HTTP (tests, or behind a TLS proxy). */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/** Runs the issuer on its own listener; resolves once it listens. */
export async function startPamIssuer(opts: StartPamIssuerOptions): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const log = opts.log ?? createLogger("flightctl-pam-issuer");
  const m = opts.address ? /^\[?(.*?)\]?:(\d+)$/.exec(opts.address) : null;
  if (opts.address && !m) throw new Error(`the PAM issuer address must be host:port, got ${quote(opts.address)}`);
  const host = (m ? m[1] : opts.host) || "0.0.0.0";
  const port = m ? Number(m[2]) : (opts.port ?? 8444);
  const issuer = createPamIssuer({ ...opts, log });
  const server = opts.tls
    ? https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, issuer.handle)
    : http.createServer(issuer.handle);
  if (!opts.tls) log.warn("the PAM issuer serves plain HTTP: passwords cross the network in clear unless a TLS proxy is in front");
  let listening: Listening;
  try {
    listening = await listen(server, host, port);
  } catch (err) {
    issuer.close();
    throw err;
  }
  log.info({ address: `${host}:${listening.port}`, issuer: opts.issuerUrl, tls: !!opts.tls }, "PAM issuer listening");
  return {
    url: opts.issuerUrl,
    port: listening.port,
    close: () => {
      issuer.close();
      return listening.close();
    },
  };
}
