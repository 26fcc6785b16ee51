// One Connect transport to the API on this origin, with the session's bearer token; the access token is refreshed
// shortly before it expires (refresh_token grant through ExchangeToken). Clients are made once per service.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import type { DescService } from "@bufbuild/protobuf";
import { AuthService } from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import { fieldViolations } from "../../lib/field-violations.js";
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
 * The problems of a failed request, each with the field path it names: the API's field violations (its errors'
 * google.rpc.BadRequest details); else, or for an error of the page itself, its one message naming no field.
 */
export function fieldProblems(e: unknown): { field?: string; message: string }[] {
  if (e instanceof Error && !("code" in e)) return [{ message: e.message }];
  const err = ConnectError.from(e);
  const violations = fieldViolations(err);
  if (violations.length === 0) return [{ message: err.rawMessage }];
  return violations.map((v) => (v.field ? v : { message: v.message }));
}
