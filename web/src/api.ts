// One Connect transport to the API on this origin, with the session's bearer token; the access token is refreshed
// shortly before it expires (refresh_token grant through ExchangeToken). Clients are made once per service.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import { loadSession, saveSession, sessionFromToken, SESSION_KEY, type Session } from "./auth.js";

let session: Session | undefined = loadSession();
let refreshing: Promise<void> | undefined;
const listeners = new Set<() => void>();

export const getSession = () => session;
export function setSession(s: Session | undefined) {
  session = s;
  saveSession(s);
  for (const l of listeners) l();
}
// Another tab logged in, refreshed or logged out.
addEventListener("storage", (e) => {
  if (e.key !== SESSION_KEY) return;
  session = loadSession();
  for (const l of listeners) l();
});
export function onSessionChange(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

async function freshToken(): Promise<string | undefined> {
  const s = session;
  if (!s) return undefined;
  if (s.refreshToken && s.expiresAt - Date.now() < 60_000) {
    refreshing ??= client(AuthService)
      .exchangeToken({ providerName: s.provider, grantType: "refresh_token", clientId: s.clientId, refreshToken: s.refreshToken })
      .then((t) => setSession(sessionFromToken({ ...t, refreshToken: t.refreshToken ?? s.refreshToken }, s.provider, s.clientId)))
      .catch(() => setSession(undefined))
      .finally(() => (refreshing = undefined));
    await refreshing;
  }
  return session?.accessToken;
}

const bearer: Interceptor = (next) => async (req) => {
  // ExchangeToken is public: sending it a token would recurse into refreshing.
  if (req.method.name !== "ExchangeToken") {
    const token = await freshToken();
    if (token) req.header.set("authorization", `Bearer ${token}`);
  }
  try {
    return await next(req);
  } catch (e) {
    // An expired or revoked token: back to the login page.
    if (ConnectError.from(e).code === Code.Unauthenticated && req.method.name !== "ExchangeToken") setSession(undefined);
    throw e;
  }
};

export const transport = createConnectTransport({ baseUrl: location.origin, interceptors: [bearer] });

const clients = new Map<DescService, unknown>();
export function client<S extends DescService>(service: S): Client<S> {
  let c = clients.get(service);
  if (!c) clients.set(service, (c = createClient(service, transport)));
  return c as Client<S>;
}

/** The text of an error for people: Connect's message without the "[code]" prefix. */
export const errorText = (e: unknown) => ConnectError.from(e).rawMessage;

/**
 * The API's validation message ("spec.selector: must not be empty; metadata.name: …") as its parts, each with the
 * field path it names (none for a part that names no field).
 */
export function fieldProblems(message: string): { field?: string; message: string }[] {
  return message.split("; ").map((part) => {
    const m = /^([\w.[\]/-]+): (.+)$/s.exec(part);
    return m ? { field: m[1], message: m[2] } : { message: part };
  });
}
