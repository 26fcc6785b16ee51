// The one OAuth2 client: its id and optional secret, and which redirect URIs it may use.
import type { IncomingMessage } from "node:http";
import { OAuthError, sameSecret } from "./http.js";

const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

function parse(uri: string): URL | undefined {
  try {
    const u = new URL(uri);
    return u.username || u.password || u.hash ? undefined : u;
  } catch {
    return undefined;
  }
}

const isLoopback = (u: URL) => u.protocol === "http:" && LOOPBACK.has(u.hostname);
const trimSlash = (s: string) => s.trim().replace(/\/+$/, "");

export interface ClientPolicy {
  clientId: string;
  confidential: boolean;
  redirectAllowed(uri: string): boolean;
  postLogoutAllowed(uri: string): boolean;
  /** Checks client_id (and the secret, for a confidential client) from the body or HTTP Basic; throws invalid_client. */
  authenticate(body: Record<string, string>, req: IncomingMessage): void;
}

export function clientPolicy(clientId: string, clientSecret: string | undefined, redirectUris: string[]): ClientPolicy {
  const registered = redirectUris.map(parse).filter((u): u is URL => u !== undefined);
  const redirectAllowed = (uri: string) => {
    const u = parse(uri);
    if (!u) return false;
    if (redirectUris.includes(uri)) return true;
    // RFC 8252 §7.3: native apps (the CLI) listen on an ephemeral loopback port; match all but host and port.
    return isLoopback(u) && registered.some((r) => isLoopback(r) && r.pathname === u.pathname && r.search === u.search);
  };
  return {
    clientId,
    confidential: !!clientSecret,
    redirectAllowed,
    postLogoutAllowed(uri) {
      if (redirectAllowed(uri)) return true;
      // As flightctl: a registered ".../callback" also allows its base (the UI's own page).
      const post = trimSlash(uri);
      return !!parse(uri) && redirectUris.some((r) => r.endsWith("/callback") && trimSlash(r.slice(0, -"/callback".length)) === post);
    },
    authenticate(body, req) {
      let id = body.client_id;
      let secret = body.client_secret;
      const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      if (basic) {
        const [u, p = ""] = Buffer.from(basic[1], "base64").toString("utf8").split(":");
        try {
          id = decodeURIComponent(u);
          secret = decodeURIComponent(p);
        } catch {
          throw new OAuthError(401, "invalid_client", "malformed Basic credentials");
        }
      }
      if (id !== clientId) throw new OAuthError(401, "invalid_client", "unknown client_id");
      if (clientSecret && !(secret && sameSecret(secret, clientSecret)))
        throw new OAuthError(401, "invalid_client", "client authentication failed");
    },
  };
}
