// POST /token (authorization_code, refresh_token, password) and /userinfo.
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import type { ClientPolicy } from "./clients.js";
import type { CodeGrant } from "./flows.js";
import { OAuthError, s256, sameSecret, type TtlMap } from "./http.js";
import { checkPassword, type LoginGuard } from "./login-guard.js";
import {
  issueTokens,
  verifyAccessToken,
  verifyRefreshToken,
  type RefreshClaims,
  type SigningKey,
  type TokenResponse,
  type TokenSettings,
  type UserClaims,
} from "./tokens.js";
import { rolesAndOrganizations, USERNAME, type UserAuthenticator } from "./users.js";

export interface GrantContext {
  client: ClientPolicy;
  users: UserAuthenticator;
  guard: LoginGuard;
  settings: TokenSettings;
  key: Promise<SigningKey>;
  codes: TtlMap<CodeGrant>;
  /** jti of refresh tokens already exchanged (rotation: each one works once while this process runs). */
  usedRefresh: TtlMap<true>;
  /** Refresh-token families revoked because a used token came back (OAuth 2.1: a replay means a stolen token). */
  revokedFamilies: TtlMap<true>;
  normalizeScope(scope: string | undefined): string;
  log: Logger;
}

/** The user's current claims; refused when the user is gone or the account locked or expired. */
export async function currentClaims(ctx: GrantContext, username: string, error = "invalid_grant"): Promise<UserClaims> {
  const status = error === "invalid_grant" ? 400 : 401;
  const groups = USERNAME.test(username) ? await ctx.users.groups(username) : undefined;
  if (!groups) throw new OAuthError(status, error, "the user no longer exists");
  if ((await ctx.users.active?.(username)) === false) throw new OAuthError(status, error, "the account is locked or expired");
  const profile = (await ctx.users.profile?.(username)) ?? {};
  return { username, name: profile.name ?? username, email: profile.email, ...rolesAndOrganizations(groups) };
}

async function codeGrant(ctx: GrantContext, body: Record<string, string>): Promise<TokenResponse> {
  // One use, even when the exchange fails (a stolen code tried with a guessed verifier is gone).
  const grant = body.code ? ctx.codes.take(body.code) : undefined;
  if (!grant || grant.clientId !== ctx.client.clientId)
    throw new OAuthError(400, "invalid_grant", "the authorization code is unknown, used or expired");
  if (grant.redirectUri !== body.redirect_uri)
    throw new OAuthError(400, "invalid_grant", "redirect_uri differs from the authorization request");
  if (grant.codeChallenge) {
    const verifier = body.code_verifier ?? "";
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) throw new OAuthError(400, "invalid_grant", "code_verifier is missing or malformed");
    if (!sameSecret(s256(verifier), grant.codeChallenge))
      throw new OAuthError(400, "invalid_grant", "code_verifier does not match the code_challenge");
  }
  return issueTokens(await ctx.key, ctx.settings, await currentClaims(ctx, grant.username), grant.scope, grant.nonce);
}

async function refreshGrant(ctx: GrantContext, body: Record<string, string>, ip: string): Promise<TokenResponse> {
  let p: RefreshClaims;
  try {
    p = await verifyRefreshToken(await ctx.key, ctx.settings, body.refresh_token ?? "");
  } catch {
    throw new OAuthError(400, "invalid_grant", "the refresh token is invalid or expired");
  }
  const [sub, granted, jti, family] = [String(p.sub), String(p.scope ?? "").split(" "), p.jti, p.fam];
  if (ctx.revokedFamilies.get(family)) throw new OAuthError(400, "invalid_grant", "the refresh token was revoked");
  if (ctx.usedRefresh.get(jti)) {
    // Either the client or a thief holds a newer token of this login: neither may go on, so the whole family is
    // revoked (every token of it expires within refreshTtl from now). The user logs in again.
    ctx.revokedFamilies.set(family, true, ctx.settings.refreshTtl * 1000);
    ctx.log.warn({ event: "refresh_token_reuse", username: sub, ip, family }, "a used refresh token came back: its family is revoked");
    throw new OAuthError(400, "invalid_grant", "the refresh token was already used; every token of this login is revoked");
  }
  // A refresh may narrow the scope, never widen it (RFC 6749 §6).
  const asked = body.scope ? ctx.normalizeScope(body.scope).split(" ") : granted;
  if (asked.some((s) => !granted.includes(s))) throw new OAuthError(400, "invalid_scope", "the scope exceeds what was granted");
  // Marked before any await so two concurrent refreshes with one token cannot both succeed.
  ctx.usedRefresh.set(jti, true, Math.max(0, p.exp * 1000 - Date.now()));
  return issueTokens(await ctx.key, ctx.settings, await currentClaims(ctx, sub), asked.join(" "), undefined, family);
}

async function passwordGrant(ctx: GrantContext, body: Record<string, string>, ip: string): Promise<TokenResponse> {
  const username = (body.username ?? "").trim();
  // RFC 6749 §5.2: wrong resource-owner credentials are invalid_grant, a 400 (401 is for client authentication).
  if (!(await checkPassword(ctx.guard, username, body.password ?? "", ip, "password_grant"))) {
    throw new OAuthError(400, "invalid_grant", "wrong user name or password");
  }
  return issueTokens(await ctx.key, ctx.settings, await currentClaims(ctx, username), ctx.normalizeScope(body.scope));
}

export async function token(ctx: GrantContext, body: Record<string, string>, req: IncomingMessage, ip: string): Promise<TokenResponse> {
  ctx.client.authenticate(body, req);
  switch (body.grant_type) {
    case "authorization_code":
      return codeGrant(ctx, body);
    case "refresh_token":
      return refreshGrant(ctx, body, ip);
    case "password":
      return passwordGrant(ctx, body, ip);
    default:
      throw new OAuthError(
        400,
        body.grant_type ? "unsupported_grant_type" : "invalid_request",
        "grant_type must be authorization_code, refresh_token or password",
      );
  }
}

/** Claims for the bearer of an access token, with the user's current groups (role changes show at once). */
export async function userinfo(ctx: GrantContext, req: IncomingMessage) {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
  if (!m) throw new OAuthError(401, "invalid_token", "send Authorization: Bearer <access token>");
  let sub: string;
  try {
    sub = String((await verifyAccessToken(await ctx.key, ctx.settings, m[1])).sub);
  } catch {
    throw new OAuthError(401, "invalid_token", "the access token is invalid or expired");
  }
  const c = await currentClaims(ctx, sub, "invalid_token");
  return {
    sub,
    preferred_username: c.username,
    name: c.name,
    ...(c.email ? { email: c.email } : {}),
    roles: c.roles,
    organizations: c.organizations,
  };
}
