// Login through the configured OIDC/OAuth2 provider with the authorization-code flow and PKCE (RFC 7636). The code is
// exchanged through AuthService.ExchangeToken (same origin, so the provider's token endpoint needs no CORS). Tokens
// live in localStorage, so every tab of this origin shares the session (and logging out in one logs out all); the
// login in progress (PKCE verifier, state) stays in the tab's sessionStorage.
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";

export const SESSION_KEY = "flightctl.session";
const KEY = SESSION_KEY;
const PENDING = "flightctl.login";

export interface Session {
  accessToken: string;
  refreshToken?: string;
  /** Epoch ms when the access token expires. */
  expiresAt: number;
  provider: string;
  clientId: string;
}

interface PendingLogin {
  state: string;
  verifier: string;
  provider: string;
  clientId: string;
  redirectUri: string;
  returnTo: string;
}

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const random = (n = 32) => b64url(crypto.getRandomValues(new Uint8Array(n)));

export const redirectUri = () => `${location.origin}/callback`;

export function loadSession(): Session | undefined {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null") as Session | null;
    return s?.accessToken ? s : undefined;
  } catch {
    return undefined;
  }
}

export function saveSession(s: Session | undefined) {
  if (s) localStorage.setItem(KEY, JSON.stringify(s));
  else localStorage.removeItem(KEY);
}

/** Sends the browser to the provider's login page. */
export async function startLogin(p: AuthProvider, returnTo: string) {
  const spec = p.spec!;
  if (!spec.authorizationUrl || !spec.clientId) throw new Error(`provider "${p.metadata?.name}" has no authorization endpoint`);
  const verifier = random(48);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const pending: PendingLogin = {
    state: random(16),
    verifier,
    provider: p.metadata?.name ?? "",
    clientId: spec.clientId,
    redirectUri: redirectUri(),
    returnTo,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const scopes = spec.scopes?.length ? spec.scopes : ["openid", "profile", "offline_access"];
  const url = new URL(spec.authorizationUrl);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: spec.clientId,
    redirect_uri: pending.redirectUri,
    scope: scopes.join(" "),
    state: pending.state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  location.assign(url.toString());
}

/** The pending login matching the callback's state, consumed; errors name what went wrong. */
export function takePendingLogin(params: URLSearchParams): PendingLogin {
  const raw = sessionStorage.getItem(PENDING);
  sessionStorage.removeItem(PENDING);
  if (params.get("error"))
    throw new Error(
      `login refused: ${params.get("error")}${params.get("error_description") ? ` (${params.get("error_description")})` : ""}`,
    );
  const pending = raw ? (JSON.parse(raw) as PendingLogin) : undefined;
  if (!pending || pending.state !== params.get("state"))
    throw new Error("this login answer does not belong to a login started here; log in again");
  if (!params.get("code")) throw new Error("the provider sent no authorization code");
  return pending;
}

export function sessionFromToken(
  t: { accessToken?: string; refreshToken?: string; expiresIn?: number },
  provider: string,
  clientId: string,
): Session {
  if (!t.accessToken) throw new Error("the provider returned no access token");
  return {
    accessToken: t.accessToken,
    refreshToken: t.refreshToken,
    expiresAt: Date.now() + (t.expiresIn ?? 300) * 1000,
    provider,
    clientId,
  };
}
