// OAuth2/OIDC for login: discovery, the password grant (straight to the provider's token endpoint, which
// AuthService.ExchangeToken does not forward), and the authorization-code + PKCE flow with a loopback listener
// (RFC 8252); its code is exchanged through AuthService.ExchangeToken.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { UsageError } from "./errors.js";

export interface HttpTls {
  ca?: string;
  insecure?: boolean;
}

/** A JSON request over http(s) trusting `tls.ca`; resolves with status and parsed body. */
export function requestJson(
  url: string,
  tls: HttpTls,
  form?: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const u = new URL(url);
  const body = form ? new URLSearchParams(form).toString() : undefined;
  const mod = u.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      {
        method: form ? "POST" : "GET",
        headers: { accept: "application/json", ...(body ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
        ...(u.protocol === "https:" ? { ca: tls.ca, rejectUnauthorized: !tls.insecure } : {}),
        timeout: 30_000,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> });
          } catch {
            reject(new Error(`${url} answered HTTP ${res.statusCode} with no JSON`));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`${url} did not answer in 30 s`)));
    req.on("error", (e) => reject(new Error(`cannot reach ${u.origin}: ${e.message}`)));
    req.end(body);
  });
}

export interface Endpoints {
  authorization?: string;
  token?: string;
}

export async function discover(issuer: string, tls: HttpTls): Promise<Endpoints> {
  const { status, body } = await requestJson(`${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`, tls);
  if (status !== 200) throw new UsageError(`the OIDC issuer ${issuer} has no discovery document (HTTP ${status})`);
  return { authorization: body.authorization_endpoint as string | undefined, token: body.token_endpoint as string | undefined };
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  expires_in?: number;
}

/** Resource-owner password grant. */
export async function passwordGrant(
  tokenUrl: string,
  tls: HttpTls,
  clientId: string,
  username: string,
  password: string,
  scope: string,
): Promise<Tokens> {
  const { status, body } = await requestJson(tokenUrl, tls, { grant_type: "password", client_id: clientId, username, password, scope });
  if (status !== 200 || !body.access_token) {
    const why = `${String(body.error ?? `HTTP ${status}`)}${body.error_description ? `: ${String(body.error_description)}` : ""}`;
    if (body.error === "invalid_grant" || status === 401) throw new UsageError(`login refused: ${why}. Check the user name and password`);
    if (status === 429) throw new UsageError(`login refused: ${why}. Wait and try again`);
    if (body.error === "unsupported_grant_type")
      throw new UsageError(`this provider does not allow password logins (${why}); use the browser: flightctl login <url> --web`);
    throw new UsageError(`login failed: ${why}`);
  }
  return body as unknown as Tokens;
}

/** PKCE verifier and its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
}

/**
 * Listens on 127.0.0.1:<port> (0 = any) for the provider's redirect; `ready` gets the redirect URI, the promise
 * the authorization code once the browser comes back with the right state.
 */
export async function awaitCode(
  port: number,
  state: string,
  ready: (redirectUri: string) => void | Promise<void>,
  timeoutMs = 5 * 60_000,
): Promise<{ code: string; redirectUri: string }> {
  const server = http.createServer();
  await new Promise<void>((r, j) => server.once("error", j).listen(port, "127.0.0.1", r));
  const redirectUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`;
  try {
    const code = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new UsageError(`no login within ${timeoutMs / 60_000} minutes; run flightctl login again`)),
        timeoutMs,
      );
      server.on("request", (req, res) => {
        const u = new URL(req.url ?? "/", redirectUri);
        if (u.pathname !== "/callback") return void res.writeHead(404).end();
        const page = (msg: string) =>
          res
            .writeHead(200, { "content-type": "text/html; charset=utf-8", connection: "close" })
            .end(`<!doctype html><title>flightctl</title><p>${msg}</p>`);
        if (u.searchParams.get("state") !== state)
          return page("This login response does not belong to the running flightctl login; ignored.");
        clearTimeout(timer);
        const err = u.searchParams.get("error");
        if (err) {
          page("Login failed; see the terminal.");
          return reject(
            new UsageError(
              `login failed at the provider: ${err}${u.searchParams.get("error_description") ? `: ${u.searchParams.get("error_description")}` : ""}`,
            ),
          );
        }
        page("Login successful. You can close this window and return to the terminal.");
        resolve(u.searchParams.get("code") ?? "");
      });
    });
    await ready(redirectUri);
    return { code: await code, redirectUri };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}
