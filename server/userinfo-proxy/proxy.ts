// flightctl-userinfo-proxy: an OIDC UserInfo endpoint in front of AAP, for Grafana's generic OAuth login. GET
// /userinfo forwards the caller's bearer token to AAP's /api/gateway/v1/me/ and answers the user as OIDC UserInfo
// claims, mapped as flightctl's proxy maps them (docs/operations.md). A refused token is 401; AAP unreachable or
// answering something unusable is 502 (flightctl answers 500 to both; a gateway error tells Grafana's operator where
// to look).
import http from "node:http";
import type { Logger } from "../../lib/logger.js";
import { AapTokenRejected, type AapUser } from "../auth/aap-gateway.js";
import type { FetchLike } from "../auth/http-client.js";
import { listen } from "../platform/listen.js";

/** OIDC UserInfo claims (the subset flightctl's proxy answers). */
export interface UserInfoClaims {
  sub: string;
  preferred_username: string;
  email: string;
  email_verified: true;
  name: string;
  given_name: string;
  family_name: string;
  updated_at: number;
  roles: string[];
  groups: string[];
}

/** One AAP user → UserInfo: superusers are Grafana Admins, platform auditors Editors, anyone else a Viewer. */
export function userInfoOf(u: AapUser, now = new Date()): UserInfoClaims {
  const first = u.first_name ?? "";
  const last = u.last_name ?? "";
  const full = `${first} ${last}`.trim();
  const [roles, groups] = u.is_superuser ? ["Admin", "admin"] : u.is_platform_auditor ? ["Editor", "auditor"] : ["Viewer", "user"];
  return {
    sub: String(u.id),
    preferred_username: u.username,
    email: u.email ?? "",
    email_verified: true,
    name: full || u.username,
    given_name: first || (full ? "" : u.username),
    family_name: last,
    updated_at: Math.floor(now.getTime() / 1000),
    roles: [roles],
    groups: [groups],
  };
}

export interface UserinfoProxyOptions {
  /** AAP's /api/gateway/v1/me/ URL. */
  upstreamUrl: string;
  /** Calls the upstream (createAuthFetch with the configured CA). */
  fetch: FetchLike;
  host: string;
  port: number;
  log: Logger;
}

// Answers are JSON for a machine (Grafana); the headers keep browsers from doing anything else with them.
const HEADERS = {
  "content-type": "application/json",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  "referrer-policy": "no-referrer",
};

/** The token's user from the upstream; AapTokenRejected on 401/403, Error on anything else unusable. */
async function lookUp(fetch: FetchLike, upstreamUrl: string, authorization: string): Promise<AapUser> {
  const res = await fetch(upstreamUrl, { headers: { authorization, accept: "application/json" } });
  if (res.status === 401 || res.status === 403) throw new AapTokenRejected(`the upstream answered HTTP ${res.status}`);
  if (res.status !== 200) throw new Error(`the upstream answered HTTP ${res.status}`);
  let body: { results?: AapUser[] };
  try {
    body = (await res.json()) as { results?: AapUser[] };
  } catch {
    throw new Error("the upstream's answer is not JSON");
  }
  const u = Array.isArray(body.results) ? body.results[0] : undefined;
  if (!u || typeof u.id !== "number" || typeof u.username !== "string" || !u.username)
    throw new Error("the upstream's answer lists no user");
  return u;
}

export async function startUserinfoProxy(opts: UserinfoProxyOptions): Promise<{ port: number; close(): Promise<void> }> {
  const answer = (res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...HEADERS, ...extra });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    if (path === "/healthz") return answer(res, 200, { status: "ok" });
    if (path !== "/userinfo") return answer(res, 404, { error: "not_found" });
    if (req.method !== "GET") return answer(res, 405, { error: "method_not_allowed" }, { allow: "GET" });
    const authorization = req.headers.authorization;
    if (!authorization || !/^Bearer\s+\S+\s*$/i.test(authorization))
      return answer(
        res,
        401,
        { error: "invalid_token", error_description: "a bearer token is required" },
        { "www-authenticate": "Bearer" },
      );
    try {
      answer(res, 200, userInfoOf(await lookUp(opts.fetch, opts.upstreamUrl, authorization)));
    } catch (err) {
      if (err instanceof AapTokenRejected)
        return answer(
          res,
          401,
          { error: "invalid_token", error_description: `AAP refused the token (${err.message})` },
          {
            "www-authenticate": 'Bearer error="invalid_token"',
          },
        );
      opts.log.warn({ err }, "userinfo lookup failed");
      answer(res, 502, { error: "bad_gateway", error_description: `AAP could not be asked: ${(err as Error).message}` });
    }
  });
  // flightctl's server timeouts: headers 10 s, request 30 s, idle 60 s.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 60_000;
  return listen(server, opts.host, opts.port);
}
