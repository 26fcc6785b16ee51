// The connection to the service: the generated Connect clients over TLS trusting the configured CA, with the
// bearer token from the configuration, refreshed through AuthService.ExchangeToken shortly before it expires.
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { readConfig, writeConfig, type ClientConfig, type GlobalOptions } from "./config.js";

export interface TlsOptions {
  ca?: string;
  insecure?: boolean;
}

/**
 * Connect protocol over HTTP/2: one TLS connection multiplexes the pages of a long list and the parallel calls of
 * delete-by-selector; for a single call it measured no slower than HTTP/1.1 (docs/cli.md). Server streams
 * (--watch) ride the same session.
 */
export function makeTransport(baseUrl: string, tls: TlsOptions, interceptors: Interceptor[] = [], timeoutMs?: number): Transport {
  return createConnectTransport({
    baseUrl,
    httpVersion: "2",
    nodeOptions: { ca: tls.ca, rejectUnauthorized: !tls.insecure },
    interceptors,
    defaultTimeoutMs: timeoutMs,
  });
}

export const caOf = (cfg: ClientConfig) =>
  cfg.service["certificate-authority-data"] ? Buffer.from(cfg.service["certificate-authority-data"], "base64").toString("utf8") : undefined;

/** Seconds before expiry at which the access token is refreshed. */
const REFRESH_MARGIN_S = 60;

/** Exp claim (seconds) of a JWT, without verifying it (the server does). */
export function jwtExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: number };
    return typeof payload.exp === "number" ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/** An authenticated session: the config, the organization to use, and a client factory. */
export interface Session {
  cfg: ClientConfig;
  org: string;
  transport: Transport;
  client<S extends DescService>(service: S): Client<S>;
}

async function refresh(g: GlobalOptions, cfg: ClientConfig): Promise<void> {
  const p = cfg.authentication?.["auth-provider"];
  if (!p?.config["refresh-token"]) return;
  const { AuthService } = await import("../gen/flightctl/v1beta1/auth_service_pb.js");
  const anon = createClient(AuthService, makeTransport(cfg.service.server, { ca: caOf(cfg), insecure: cfg.service.insecureSkipVerify }));
  const res = await anon.exchangeToken({
    providerName: p.name,
    grantType: "refresh_token",
    clientId: p.config["client-id"],
    refreshToken: p.config["refresh-token"],
  });
  const access = res.accessToken ?? "";
  p.config["access-token"] = access;
  if (res.refreshToken) p.config["refresh-token"] = res.refreshToken;
  const exp = jwtExpiry(access) ?? (res.expiresIn ? Math.floor(Date.now() / 1000) + Number(res.expiresIn) : undefined);
  if (exp) p.config["expires-at"] = String(exp);
  await writeConfig(g, cfg);
}

/** Opens a session from the configuration (refreshing the token when it is about to expire). */
export async function session(g: GlobalOptions): Promise<Session> {
  const cfg = await readConfig(g);
  const p = cfg.authentication?.["auth-provider"];
  if (p?.config["refresh-token"]) {
    const exp = Number(p.config["expires-at"] ?? jwtExpiry(p.config["access-token"]) ?? 0);
    if (exp && exp - REFRESH_MARGIN_S < Date.now() / 1000) await refresh(g, cfg);
  }
  const token = () => cfg.authentication?.token ?? cfg.authentication?.["auth-provider"]?.config["access-token"];
  const auth: Interceptor = (next) => (req) => {
    const t = token();
    if (t) req.header.set("authorization", `Bearer ${t}`);
    return next(req);
  };
  const seconds = Number(g["request-timeout"] ?? 30);
  const transport = makeTransport(
    cfg.service.server,
    { ca: caOf(cfg), insecure: cfg.service.insecureSkipVerify },
    [auth],
    seconds > 0 ? seconds * 1000 : undefined,
  );
  return {
    cfg,
    org: g.org ?? cfg.organization ?? "",
    transport,
    client: (service) => createClient(service, transport),
  };
}
