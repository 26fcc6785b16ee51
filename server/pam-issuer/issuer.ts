// flightctl-pam-issuer: a small OpenID Connect provider for installs without one. Users log in with their host
// credentials (PAM) or, on the embedded default, as the bootstrap admin; Linux groups become roles and
// organizations. Endpoints under the issuer URL's path: discovery, jwks, authorize (login form), login, token
// (authorization_code + PKCE S256, refresh_token, password), userinfo, logout.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { loginPage } from "./login-page.js";
import { issueTokens, loadSigningKey, verifyToken, type TokenSettings } from "./tokens.js";
import { bootstrapUser, chain, loadPam, pamServiceConfigured, pamUsers, rolesAndOrganizations, USERNAME, type UserSource } from "./users.js";

export interface PamIssuerOptions {
  /** Public URL of the issuer, e.g. https://localhost:8444/api/v1/auth (its path prefixes every endpoint). */
  issuerUrl: string;
  dataDir: string;
  clientId?: string;
  /** Set for a confidential client; empty means a public client (PKCE required). */
  clientSecret?: string;
  /** Allowed redirect URIs (exact; a loopback one also allows any port, RFC 8252). */
  redirectUris: string[];
  pamService?: string;
  accessTokenTtl?: number;
  refreshTokenTtl?: number;
  bootstrapAdmin?: { username: string; password: string };
  /** Replaces the user sources (tests). */
  users?: UserSource;
  log: Logger;
}

interface Pending {
  clientId: string;
  redirectUri: string;
  state?: string;
  codeChallenge?: string;
  scope: string;
  nonce?: string;
  expires: number;
}

interface Grant {
  username: string;
  clientId: string;
  redirectUri: string;
  codeChallenge?: string;
  scope: string;
  nonce?: string;
  expires: number;
}

class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);
const MAX_BODY = 64 * 1024;
const random = () => randomBytes(32).toString("base64url");
const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new OAuthError(413, "invalid_request", "request body too large");
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if ((req.headers["content-type"] ?? "").includes("application/json")) {
    try {
      return Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    } catch {
      throw new OAuthError(400, "invalid_request", "the body is not valid JSON");
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

export function createPamIssuer(opts: PamIssuerOptions) {
  const base = new URL(opts.issuerUrl);
  const prefix = base.pathname.replace(/\/$/, "");
  const issuer = opts.issuerUrl.replace(/\/$/, "");
  const settings: TokenSettings = {
    issuer,
    clientId: opts.clientId ?? "flightctl-client",
    accessTtl: opts.accessTokenTtl ?? 3600,
    refreshTtl: opts.refreshTokenTtl ?? 7 * 24 * 3600,
  };
  const service = opts.pamService ?? "flightctl";
  const sources: UserSource[] = [];
  if (opts.bootstrapAdmin) sources.push(bootstrapUser(opts.bootstrapAdmin.username, opts.bootstrapAdmin.password));
  const pam = loadPam();
  if (pam) {
    sources.push(pamUsers(pam, service));
    if (!pamServiceConfigured(service)) opts.log.warn({ service }, `no /etc/pam.d/${service}: PAM uses /etc/pam.d/other for this service (see docs/pam-issuer.md)`);
  } else {
    opts.log.warn("authenticate-pam is not built on this machine: only the bootstrap user can log in (see docs/pam-issuer.md)");
  }
  const users = opts.users ?? chain(sources);
  const keyReady = loadSigningKey(opts.dataDir);
  const pending = new Map<string, Pending>();
  const grants = new Map<string, Grant>();
  // Expired pending logins and codes are dropped periodically; unref'd so it never keeps a process alive.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [k, v] of pending) if (v.expires < now) pending.delete(k);
    for (const [k, v] of grants) if (v.expires < now) grants.delete(k);
  }, 60_000);
  sweep.unref();

  function redirectAllowed(uri: string): boolean {
    if (opts.redirectUris.includes(uri)) return true;
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      return false;
    }
    // RFC 8252 §7.3: native apps listen on an ephemeral loopback port; match everything but the port.
    return (
      u.protocol === "http:" &&
      LOOPBACK.has(u.hostname) &&
      opts.redirectUris.some((r) => {
        const reg = new URL(r);
        return reg.protocol === "http:" && LOOPBACK.has(reg.hostname) && reg.pathname === u.pathname;
      })
    );
  }

  function checkClient(clientId: string | undefined, secret: string | undefined) {
    if (clientId !== settings.clientId) throw new OAuthError(401, "invalid_client", `unknown client_id "${clientId ?? ""}"`);
    if (opts.clientSecret && !(secret && same(secret, opts.clientSecret))) throw new OAuthError(401, "invalid_client", "wrong client credentials");
  }

  async function userClaims(username: string) {
    const groups = await users.groups(username);
    if (!groups) throw new OAuthError(400, "invalid_grant", "the user no longer exists");
    return { username, ...rolesAndOrganizations(groups) };
  }

  async function token(body: Record<string, string>, req: IncomingMessage) {
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
    const [basicId, basicSecret] = basic ? Buffer.from(basic[1], "base64").toString().split(":").map(decodeURIComponent) : [];
    checkClient(body.client_id ?? basicId, body.client_secret ?? basicSecret);
    const key = await keyReady;
    switch (body.grant_type) {
      case "authorization_code": {
        const grant = body.code ? grants.get(body.code) : undefined;
        if (body.code) grants.delete(body.code); // one use, even when the exchange fails
        if (!grant || grant.expires < Date.now()) throw new OAuthError(400, "invalid_grant", "the authorization code is unknown, used or expired");
        if (grant.redirectUri !== body.redirect_uri) throw new OAuthError(400, "invalid_grant", "redirect_uri differs from the authorization request");
        if (grant.codeChallenge && !(body.code_verifier && same(s256(body.code_verifier), grant.codeChallenge))) {
          throw new OAuthError(400, "invalid_grant", "code_verifier does not match the code_challenge");
        }
        return issueTokens(key, settings, await userClaims(grant.username), grant.scope, grant.nonce);
      }
      case "refresh_token": {
        let sub: string;
        let scope: string;
        try {
          const p = await verifyToken(key, settings, body.refresh_token ?? "", "refresh");
          sub = p.sub!;
          scope = String(p.scope ?? "openid");
        } catch (e) {
          throw new OAuthError(400, "invalid_grant", `invalid refresh token: ${(e as Error).message}`);
        }
        return issueTokens(key, settings, await userClaims(sub), scope);
      }
      case "password": {
        const username = body.username ?? "";
        if (!(await users.authenticate(username, body.password ?? ""))) {
          await new Promise((r) => setTimeout(r, 300)); // slows guessing
          throw new OAuthError(401, "invalid_grant", "wrong user name or password");
        }
        return issueTokens(key, settings, await userClaims(username), body.scope || "openid profile roles");
      }
      default:
        throw new OAuthError(400, "unsupported_grant_type", `grant_type must be authorization_code, refresh_token or password, got "${body.grant_type ?? ""}"`);
    }
  }

  function authorize(q: URLSearchParams, res: ServerResponse) {
    const clientId = q.get("client_id") ?? "";
    const redirectUri = q.get("redirect_uri") ?? "";
    // Until the redirect URI is trusted, errors are shown here rather than sent to it.
    if (clientId !== settings.clientId) throw new OAuthError(400, "invalid_client", `unknown client_id "${clientId}"`);
    if (!redirectAllowed(redirectUri)) throw new OAuthError(400, "invalid_request", `redirect_uri "${redirectUri}" is not registered`);
    if (q.get("response_type") !== "code") throw new OAuthError(400, "unsupported_response_type", "response_type must be \"code\"");
    const challenge = q.get("code_challenge") ?? undefined;
    if (!opts.clientSecret && !challenge) throw new OAuthError(400, "invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256");
    if (challenge && q.get("code_challenge_method") !== "S256") throw new OAuthError(400, "invalid_request", "code_challenge_method must be S256");
    const id = random();
    pending.set(id, {
      clientId,
      redirectUri,
      state: q.get("state") ?? undefined,
      codeChallenge: challenge,
      scope: q.get("scope") ?? "openid",
      nonce: q.get("nonce") ?? undefined,
      expires: Date.now() + 10 * 60_000,
    });
    html(res, 200, loginPage(`${prefix}/login`, id));
  }

  async function login(body: Record<string, string>, res: ServerResponse) {
    const p = pending.get(body.request ?? "");
    if (!p || p.expires < Date.now()) return html(res, 400, "<!doctype html><title>Login expired</title><p>This login page expired. Start again from the application.</p>");
    const username = body.username ?? "";
    if (!(await users.authenticate(username, body.password ?? ""))) {
      await new Promise((r) => setTimeout(r, 300));
      return html(res, 401, loginPage(`${prefix}/login`, body.request, "Wrong user name or password.", USERNAME.test(username) ? username : ""));
    }
    pending.delete(body.request);
    const code = random();
    grants.set(code, { username, clientId: p.clientId, redirectUri: p.redirectUri, codeChallenge: p.codeChallenge, scope: p.scope, nonce: p.nonce, expires: Date.now() + 60_000 });
    const to = new URL(p.redirectUri);
    to.searchParams.set("code", code);
    if (p.state) to.searchParams.set("state", p.state);
    res.writeHead(302, { location: to.toString(), "cache-control": "no-store" }).end();
  }

  async function userinfo(req: IncomingMessage) {
    const m = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "");
    if (!m) throw new OAuthError(401, "invalid_token", "send Authorization: Bearer <access token>");
    try {
      const p = await verifyToken(await keyReady, settings, m[1], "access");
      return { sub: p.sub, preferred_username: p.preferred_username, name: p.name, roles: p.roles, organizations: p.organizations };
    } catch (e) {
      throw new OAuthError(401, "invalid_token", (e as Error).message);
    }
  }

  function html(res: ServerResponse, status: number, body: string) {
    res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-frame-options": "DENY", "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'" });
    res.end(body);
  }

  function json(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(JSON.stringify(body));
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", issuer);
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : "";
    const key = `${req.method} ${path}`;
    switch (key) {
      case "GET /.well-known/openid-configuration":
        return json(res, 200, {
          issuer,
          authorization_endpoint: `${issuer}/authorize`,
          token_endpoint: `${issuer}/token`,
          userinfo_endpoint: `${issuer}/userinfo`,
          jwks_uri: `${issuer}/jwks`,
          end_session_endpoint: `${issuer}/logout`,
          response_types_supported: ["code"],
          grant_types_supported: ["authorization_code", "refresh_token", "password"],
          code_challenge_methods_supported: ["S256"],
          scopes_supported: ["openid", "profile", "email", "roles", "offline_access"],
          claims_supported: ["sub", "preferred_username", "name", "roles", "organizations"],
          subject_types_supported: ["public"],
          id_token_signing_alg_values_supported: ["ES256"],
          token_endpoint_auth_methods_supported: opts.clientSecret ? ["client_secret_basic", "client_secret_post"] : ["none"],
        });
      case "GET /jwks":
        return json(res, 200, { keys: [(await keyReady).publicJwk] });
      case "GET /authorize":
        return authorize(url.searchParams, res);
      case "POST /login":
        return login(await readBody(req), res);
      case "POST /token":
        return json(res, 200, await token(await readBody(req), req));
      case "GET /userinfo":
        return json(res, 200, await userinfo(req));
      case "GET /logout": {
        const back = url.searchParams.get("post_logout_redirect_uri");
        if (back && redirectAllowed(back)) return res.writeHead(302, { location: back }).end();
        return html(res, 200, "<!doctype html><title>Logged out</title><p>You are logged out of Flight Control.</p>");
      }
      default:
        return json(res, 404, { error: "not_found", error_description: `no endpoint ${key}` });
    }
  }

  return {
    handle(req: IncomingMessage, res: ServerResponse) {
      route(req, res).catch((e: unknown) => {
        if (e instanceof OAuthError) return json(res, e.status, { error: e.code, error_description: e.message });
        opts.log.error({ err: e }, "pam issuer request failed");
        json(res, 500, { error: "server_error", error_description: "internal error" });
      });
    },
    close() {
      clearInterval(sweep);
    },
  };
}

/** Runs the issuer on its own HTTPS listener. */
export async function startPamIssuer(opts: PamIssuerOptions & { host: string; port: number; tls: { key: string; cert: string } }) {
  const issuer = createPamIssuer(opts);
  const server = https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, issuer.handle);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ address: `${opts.host}:${port}`, issuer: opts.issuerUrl }, "PAM issuer listening");
  return {
    port,
    url: opts.issuerUrl,
    close: () =>
      new Promise<void>((resolve) => {
        issuer.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
