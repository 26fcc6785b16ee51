// flightctl-api: the API server process (user endpoint :3443 and agent endpoint :7443). Run directly, or started by
// all-in-one.ts. Its settings come from server/config.ts (docs/server.md lists them).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { pendingMigrations } from "../../db/migrate.js";
import { createApp } from "../app.js";
import { readFileSync } from "node:fs";
import { createAuthFetch } from "../auth/http-client.js";
import { hostname } from "node:os";
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { AuthProviderSchema } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { startEndpoint } from "../platform/http-server.js";
import { createWebStatic } from "../platform/web-static.js";
import { createLogger, type Logger } from "../../lib/logger.js";
import { ensurePki, serverNames } from "../platform/pki/ca.js";
import { decodeJson, parseDocuments } from "../platform/codec.js";
import { createDb } from "../platform/db.js";
import { createPool } from "../platform/pg-pool.js";
import { startRenderNotifier, type RenderNotifier } from "../devices/render-notifier.js";
import { createLastSeenRecorder, type LastSeenRecorder } from "../devices/last-seen.js";
import { createConsoleRelay } from "../console/console-relay.js";
import { loadConfig, withDefaults, type MetricsSettings, type RateLimitSettings, type ServerConfig } from "../config.js";
import { Registry } from "prom-client";
import { startFleetGauges } from "../metrics/fleet-gauges.js";
import { defaultReplica, registerReplicaMetrics } from "../metrics/replica-metrics.js";
import { startMetricsListener, type MetricsListener } from "../metrics/metrics-http.js";
import type { TokenPolicy } from "../auth/token-policy.js";
import type { ConsoleLimits } from "../console/console-limits.js";
import type { EndpointLimits } from "../platform/endpoint-limits.js";
import { requireDatabaseUrl, runProcess } from "./process.js";
import { tuneStreamingHeap } from "./heap-tuning.js";
import { quote } from "../../lib/quote.js";

export interface ApiOptions {
  databaseUrl: string;
  dataDir: string;
  /** User endpoint host:port; port 0 picks a free one. */
  address: string;
  /** Agent endpoint host:port (default 0.0.0.0:7443). */
  agentAddress?: string;
  /** URL agents are told to dial (default https://<hostname>:<agent port>). */
  agentEndpointUrl?: string;
  /** Providers trusted besides AuthProvider resources (the built-in issuer, a corporate IdP). */
  authProviders?: AuthProvider[];
  /** PEM CAs trusted for calls to auth providers (a private AAP, an internal IdP) besides the system and service CAs. */
  authCaPem?: string[];
  csrAutoApprove?: boolean;
  uiUrl?: string;
  /** Rendered-device stream heartbeat period (default 30 s). */
  heartbeatMs?: number;
  /** How often lastSeen marks are written (default 5 s). */
  lastSeenFlushMs?: number;
  /** Idle watch streams get a BOOKMARK this often (default 30 s). */
  watchBookmarkMs?: number;
  /** The web UI build served on the user endpoint (default web/dist of this checkout; "" serves none). */
  webDir?: string;
  /** Redis for the console relay across replicas (FLIGHTCTL_REDIS_URL); unset: in-process (one replica). */
  redisUrl?: string;
  /** Extra names for the server certificates. */
  sans?: string[];
  /** Database connections (default 20). */
  dbPoolMax?: number;
  /** Waiting longer for a database connection fails the statement (default 10 s). */
  dbConnectTimeoutMs?: number;
  /** Log the memory breakdown this often (default never). */
  debugMemoryMs?: number;
  /** Console session limits (default: server/config.ts's defaults). */
  console?: ConsoleLimits;
  /** The git commit the build came from, shown in the version. */
  gitCommit?: string;
  /** Prometheus HTTP API base URL for the web UI's charts (default: none). */
  prometheusUrl?: string;
  /** Alertmanager's base URL for AlertService (default: none). */
  alertmanagerUrl?: string;
  /** What bearer tokens must satisfy (default: server/config.ts's). */
  tokenPolicy?: TokenPolicy;
  /** Request limits (default: server/config.ts's, on). */
  rateLimits?: RateLimitSettings;
  /** Request size, request message and connection limits of both endpoints (default: server/config.ts's defaults). */
  limits?: EndpointLimits;
  /** Service metrics: interval, fleet grouping, replica name, own listener (default: server/config.ts's). */
  metrics?: Partial<Omit<MetricsSettings, "workerAddress">>;
  log?: Logger;
}

export interface RunningApi {
  port: number;
  agentPort: number;
  /** The root CA certificate (trust it to call the API). */
  caPath: string;
  /** Root + client-signer bundle. */
  bundlePath: string;
  notifier: RenderNotifier;
  lastSeen: LastSeenRecorder;
  /** The service metrics' own listener's port, when they have one (ApiOptions.metrics.address). */
  metricsPort?: number;
  close(): Promise<void>;
}

/** AuthProvider documents (YAML or JSON, multi-document) from a config file, with errors naming the file. */
export function readAuthProviders(path: string): AuthProvider[] {
  return parseDocuments(readFileSync(path, "utf8")).map((doc) => decodeJson(AuthProviderSchema, doc) as AuthProvider);
}

/** host:port ([v6]:port; an empty host is every interface). */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`the address must be host:port, got ${quote(address)}`);
  return { host: m[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port: Number(m[2]) };
}

/** Starts both endpoints on `opts`; what is not given takes server/config.ts's default. */
export async function startApi(opts: ApiOptions): Promise<RunningApi> {
  const log = opts.log ?? createLogger("flightctl-api");
  const defaultConfig = loadConfig({});
  const defaults = defaultConfig.api;
  const pending = await pendingMigrations(opts.databaseUrl);
  if (pending.length > 0) {
    throw new Error(`the database has ${pending.length} pending migration(s) (${pending.join(", ")}); run flightctl-db-migrate first`);
  }
  // Every connection has an error listener: a lost one fails the statements in flight (Unavailable), not the process.
  const pool = createPool({
    connectionString: opts.databaseUrl,
    max: opts.dbPoolMax ?? defaults.dbPoolMax,
    connectTimeoutMs: opts.dbConnectTimeoutMs ?? loadConfig({}).dbConnectTimeoutMs,
    log,
    name: "api",
  });
  const pki = await ensurePki(opts.dataDir, serverNames(opts.sans));
  const bundlePem = readFileSync(pki.bundlePath, "utf8");
  const agentAt = parseAddress(opts.agentAddress ?? defaults.agentAddress);
  // The agent endpoint's port must be known before the app is built (it goes into enrollment config), so a port 0
  // request is resolved by listening first and building the URL from the bound port.
  const { host, port } = parseAddress(opts.address);
  // Agents learn the agent endpoint's URL from enrollment config; with port 0 it is known only once bound.
  let agentUrl = opts.agentEndpointUrl ?? "";
  const notifier = await startRenderNotifier(opts.databaseUrl, log);
  const lastSeen = createLastSeenRecorder(createDb(pool), log, { flushMs: opts.lastSeenFlushMs });
  // Console sessions relay through Redis when set, so the user's and the device's streams may reach different replicas.
  const consoleLimits = opts.console ?? defaults.console;
  const consoleRelay = createConsoleRelay(opts.redisUrl, log, consoleLimits.maxDurationMs + 60_000);
  const app = createApp({
    pool,
    log,
    agent: { notifier, lastSeen, heartbeatMs: opts.heartbeatMs },
    watch: { listen: notifier.listen, bookmarkMs: opts.watchBookmarkMs },
    ca: { clientSigner: pki.clientSigner, bundlePem },
    agentEndpointUrl: () => agentUrl,
    uiUrl: opts.uiUrl,
    staticAuthProviders: opts.authProviders,
    fetch: createAuthFetch([bundlePem, ...(opts.authCaPem ?? [])]),
    csrAutoApprove: opts.csrAutoApprove,
    console: { relay: consoleRelay, limits: consoleLimits },
    gitCommit: opts.gitCommit,
    prometheusUrl: opts.prometheusUrl,
    alertmanagerUrl: opts.alertmanagerUrl,
    tokenPolicy: opts.tokenPolicy ?? defaultConfig.tokens,
    rateLimits: opts.rateLimits ?? defaultConfig.rateLimits,
  });
  // Service metrics: the fleet-wide gauges (one snapshot for every replica) and this replica's own figures, labelled
  // with its name once the user endpoint's port is known; served on that endpoint's /metrics or on their own listener.
  const metricsSettings = withDefaults(defaultConfig.metrics, opts.metrics ?? {});
  const fleetGauges = startFleetGauges({ db: createDb(pool), log, ...metricsSettings });
  const replicaMetrics = new Registry();
  const moreMetrics = async () => (await fleetGauges.text()) + (await replicaMetrics.metrics());
  const webDir = opts.webDir ?? resolve(import.meta.dirname, "../../web/dist");
  const web = webDir ? createWebStatic(webDir) : undefined;
  const server = await startEndpoint({
    app,
    pool,
    log,
    tls: { key: pki.userServer.keyPem, cert: pki.userServer.certPem },
    host,
    port,
    web,
    limits: opts.limits ?? defaults.limits,
    // On the user endpoint unless they have a listener of their own.
    moreMetrics: metricsSettings.address ? undefined : moreMetrics,
  });
  registerReplicaMetrics(replicaMetrics, {
    replica: metricsSettings.replica ?? defaultReplica(server.port),
    pools: { api: pool },
    deviceStreams: () => notifier.size,
  });
  const agentServer = await startEndpoint({
    app: app.agent,
    pool,
    log,
    tls: { key: pki.agentServer.keyPem, cert: pki.agentServer.certPem, ca: bundlePem },
    host: agentAt.host,
    port: agentAt.port,
    limits: opts.limits ?? defaults.limits,
    // An agent holds one connection for days and opens a stream or sends a call now and then: its headers compress
    // to a few bytes less, while the tables cost its session ≈ 0.8 KB of nghttp2 memory (7.6 MB at 10,000 agents).
    headerTables: false,
  });
  agentUrl ||= `https://${hostname()}:${agentServer.port}`;
  let metricsListener: MetricsListener | undefined;
  try {
    if (metricsSettings.address) metricsListener = await startMetricsListener(moreMetrics, metricsSettings.address, log);
  } catch (err) {
    await Promise.all([server.close(), agentServer.close()]);
    await fleetGauges.close();
    throw err;
  }
  // The process's memory breakdown, periodically (capacity planning).
  if (opts.debugMemoryMs) {
    setInterval(() => log.warn({ memory: process.memoryUsage(), streams: notifier.size }, "memory"), opts.debugMemoryMs).unref();
  }
  log.info({ address: `${host}:${server.port}`, agent: `${agentAt.host}:${agentServer.port}`, ca: pki.caPath }, "endpoints listening");
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    agentPort: agentServer.port,
    caPath: pki.caPath,
    bundlePath: pki.bundlePath,
    notifier,
    lastSeen,
    metricsPort: metricsListener?.port,
    close: () =>
      (closing ??= (async () => {
        await Promise.all([server.close(), agentServer.close(), metricsListener?.close()]);
        await fleetGauges.close();
        await lastSeen.close();
        await notifier.close();
        await consoleRelay.close();
        await pool.end();
      })()),
  };
}

/** The API's options from the configuration (flightctl-api; npm start adds its built-in issuer). */
export function apiOptions(config: ServerConfig, databaseUrl: string, log: Logger): ApiOptions {
  const { api } = config;
  return {
    databaseUrl,
    dataDir: config.dataDir,
    address: api.address,
    agentAddress: api.agentAddress,
    agentEndpointUrl: api.agentEndpointUrl,
    authProviders: api.authConfig ? readAuthProviders(api.authConfig) : [],
    authCaPem: api.authCaFile ? [readFileSync(api.authCaFile, "utf8")] : undefined,
    csrAutoApprove: api.csrAutoApprove,
    uiUrl: api.uiUrl,
    heartbeatMs: api.heartbeatMs,
    lastSeenFlushMs: api.lastSeenFlushMs,
    watchBookmarkMs: api.watchBookmarkMs,
    webDir: api.webDir,
    redisUrl: config.redisUrl,
    sans: api.sans,
    dbPoolMax: api.dbPoolMax,
    dbConnectTimeoutMs: config.dbConnectTimeoutMs,
    debugMemoryMs: api.debugMemoryMs,
    console: api.console,
    gitCommit: api.gitCommit,
    prometheusUrl: api.prometheusUrl,
    alertmanagerUrl: config.alerts.alertmanagerUrl,
    tokenPolicy: config.tokens,
    rateLimits: config.rateLimits,
    limits: api.limits,
    metrics: config.metrics,
    log,
  };
}

/** Runs the process from its configuration (also the bin entry point). */
export const main = () => {
  tuneStreamingHeap();
  return runProcess(
    "flightctl-api",
    async (config, log) => (await startApi(apiOptions(config, requireDatabaseUrl(config, log), log))).close,
  );
};

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
