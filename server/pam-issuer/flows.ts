// The browser side of the authorization-code flow: GET /authorize shows the login form for a validated request
// kept server-side under a random id; POST /login checks the credentials and redirects back with a one-time code.
import type { ServerResponse } from "node:http";
import type { ClientPolicy } from "./clients.js";
import { OAuthError, randomId, redirect, sendHtml, type TtlMap } from "./http.js";
import { checkPassword, type LoginGuard } from "./login-guard.js";
import { loginPage, messagePage } from "./login-page.js";
import { USERNAME } from "./users.js";

/** An authorization request waiting for the user to log in. */
export interface PendingLogin {
  redirectUri: string;
  state?: string;
  codeChallenge?: string;
  scope: string;
  nonce?: string;
  failures: number;
}

/** What a code stands for, until /token redeems it (once, within 60 s). */
export interface CodeGrant {
  username: string;
  clientId: string;
  redirectUri: string;
  codeChallenge?: string;
  scope: string;
  nonce?: string;
}

export const PENDING_TTL_MS = 10 * 60_000;
export const CODE_TTL_MS = 60_000;
const MAX_FAILURES = 5;

export interface FlowContext {
  client: ClientPolicy;
  guard: LoginGuard;
  pending: TtlMap<PendingLogin>;
  codes: TtlMap<CodeGrant>;
  loginAction: string;
  normalizeScope(scope: string | undefined): string;
}

function back(redirectUri: string, params: Record<string, string | undefined>): string {
  const to = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) to.searchParams.set(k, v);
  return to.toString();
}

export function authorize(ctx: FlowContext, q: URLSearchParams, res: ServerResponse) {
  const redirectUri = q.get("redirect_uri") ?? "";
  // Until client and redirect URI are trusted, errors are shown here rather than sent to the redirect URI.
  if (q.get("client_id") !== ctx.client.clientId) throw new OAuthError(400, "invalid_client", "unknown client_id");
  if (!ctx.client.redirectAllowed(redirectUri))
    throw new OAuthError(400, "invalid_request", "redirect_uri is not registered for this client");
  const state = q.get("state") ?? undefined;
  const fail = (error: string, description: string) => redirect(res, back(redirectUri, { error, error_description: description, state }));
  if (q.get("response_type") !== "code") return fail("unsupported_response_type", 'response_type must be "code"');
  const challenge = q.get("code_challenge") ?? undefined;
  if (challenge !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(challenge))
    return fail("invalid_request", "code_challenge must be a base64url SHA-256");
  if (challenge !== undefined && q.get("code_challenge_method") !== "S256")
    return fail("invalid_request", "code_challenge_method must be S256");
  if (!ctx.client.confidential && !challenge)
    return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256");
  const id = randomId();
  ctx.pending.set(
    id,
    {
      redirectUri,
      state,
      codeChallenge: challenge,
      scope: ctx.normalizeScope(q.get("scope") ?? undefined),
      nonce: q.get("nonce") ?? undefined,
      failures: 0,
    },
    PENDING_TTL_MS,
  );
  sendHtml(res, 200, loginPage(ctx.loginAction, id), redirectUri);
}

export async function login(ctx: FlowContext, body: Record<string, string>, res: ServerResponse, ip: string) {
  const id = body.request ?? "";
  const p = ctx.pending.get(id);
  if (!p) return sendHtml(res, 400, messagePage("Login expired", "This login page has expired. Start again from the application."));
  const username = (body.username ?? "").trim();
  if (!(await checkPassword(ctx.guard, username, body.password ?? "", ip, "login_form"))) {
    // A few tries per request, then the application has to start over (limits guessing through one form).
    if (++p.failures >= MAX_FAILURES) {
      ctx.pending.delete(id);
      return sendHtml(res, 401, messagePage("Too many attempts", "Too many failed logins. Start again from the application."));
    }
    return sendHtml(
      res,
      401,
      loginPage(ctx.loginAction, id, "Wrong user name or password.", USERNAME.test(username) ? username : ""),
      p.redirectUri,
    );
  }
  ctx.pending.delete(id);
  const code = randomId();
  ctx.codes.set(
    code,
    { username, clientId: ctx.client.clientId, redirectUri: p.redirectUri, codeChallenge: p.codeChallenge, scope: p.scope, nonce: p.nonce },
    CODE_TTL_MS,
  );
  redirect(res, back(p.redirectUri, { code, state: p.state }));
}
