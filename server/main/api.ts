// flightctl-api: the API server process (user endpoint :3443 and agent endpoint :7443). Run directly, or started by
// all-in-one.ts.
//   DATABASE_URL (required), FLIGHTCTL_DATA_DIR (default .data), FLIGHTCTL_API_ADDRESS (default 0.0.0.0:3443),
//   FLIGHTCTL_AGENT_ADDRESS (default 0.0.0.0:7443), FLIGHTCTL_AGENT_ENDPOINT_URL (what agents dial; default
//   https://<hostname>:<agent port>), FLIGHTCTL_AUTH_CONFIG (YAML file of AuthProvider documents trusted besides the
//   AuthProvider resources), FLIGHTCTL_CSR_AUTO_APPROVE (default true), FLIGHTCTL_UI_URL, FLIGHTCTL_WEB_DIR (the web UI
//   build to serve; default web/dist, empty: none), FLIGHTCTL_REDIS_URL (console relay across replicas; unset: in-process),
//   FLIGHTCTL_CONSOLE_* (console limits, docs/console.md), LOG_LEVEL
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { pendingMigrations } from "../../db/migrate.js";
import { createApp } from "../app.js";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { AuthProviderSchema } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { startEndpoint } from "../platform/http-server.js";
import { createWebStatic } from "../platform/web-static.js";
import { createLogger, type Logger } from "../platform/logger.js";
import { ensurePki } from "../platform/pki/ca.js";
import { decodeJson, parseDocuments } from "../platform/codec.js";
import { drizzle } from "drizzle-orm/node-postgres";
import type { Db } from "../platform/resource/resource-store.js";
import { startRenderNotifier, type RenderNotifier } from "../devices/render-notifier.js";
import { createLastSeenRecorder, type LastSeenRecorder } from "../devices/last-seen.js";
import { createConsoleRelay } from "../console/console-relay.js";
import { consoleLimitsFromEnv } from "../console/console-service.js";

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
  csrAutoApprove?: boolean;
  uiUrl?: string;
  /** Rendered-device stream heartbeat period (default 30 s). */
  heartbeatMs?: number;
  /** How often lastSeen marks are written (default 5 s). */
  lastSeenFlushMs?: number;
  /** Idle watch streams get a BOOKMARK this often (default 30 s, or FLIGHTCTL_WATCH_BOOKMARK_SECONDS). */
  watchBookmarkMs?: number;
  /** The web UI build served on the user endpoint (default web/dist of this checkout; "" serves none). */
  webDir?: string;
  /** Redis for the console relay across replicas (FLIGHTCTL_REDIS_URL); unset: in-process (one replica). */
  redisUrl?: string;
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
  close(): Promise<void>;
}

/** AuthProvider documents (YAML or JSON, multi-document) from a config file, with errors naming the file. */
export function readAuthProviders(path: string): AuthProvider[] {
  return parseDocuments(readFileSync(path, "utf8")).map((doc) => decodeJson(AuthProviderSchema, doc) as AuthProvider);
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`FLIGHTCTL_API_ADDRESS must be host:port, got "${address}"`);
  return { host: m[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port: Number(m[2]) };
}

export async function startApi(opts: ApiOptions): Promise<RunningApi> {
  const log = opts.log ?? createLogger("flightctl-api");
  const pending = await pendingMigrations(opts.databaseUrl);
  if (pending.length > 0) {
    throw new Error(`the database has ${pending.length} pending migration(s) (${pending.join(", ")}); run flightctl-db-migrate first`);
  }
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: Number(process.env.FLIGHTCTL_DB_POOL_MAX ?? 20) });
  pool.on("error", (err) => log.error({ err }, "idle database connection failed"));
  const pki = await ensurePki(opts.dataDir);
  const bundlePem = readFileSync(pki.bundlePath, "utf8");
  const agentAt = parseAddress(opts.agentAddress ?? "0.0.0.0:7443");
  // The agent endpoint's port must be known before the app is built (it goes into enrollment config), so a port 0
  // request is resolved by listening first and building the URL from the bound port.
  const { host, port } = parseAddress(opts.address);
  // Agents learn the agent endpoint's URL from enrollment config; with port 0 it is known only once bound.
  let agentUrl = opts.agentEndpointUrl ?? "";
  const notifier = await startRenderNotifier(opts.databaseUrl, log);
  const lastSeen = createLastSeenRecorder(drizzle(pool) as unknown as Db, log, { flushMs: opts.lastSeenFlushMs });
  // Console sessions relay through Redis when set, so the user's and the device's streams may reach different replicas.
  const consoleLimits = consoleLimitsFromEnv();
  const consoleRelay = createConsoleRelay(opts.redisUrl, log, consoleLimits.maxDurationMs + 60_000);
  const app = createApp({
    pool,
    log,
    agent: { notifier, lastSeen, heartbeatMs: opts.heartbeatMs },
    watch: { listen: notifier.listen, bookmarkMs: opts.watchBookmarkMs ?? secondsFromEnv("FLIGHTCTL_WATCH_BOOKMARK_SECONDS") },
    ca: { clientSigner: pki.clientSigner, bundlePem },
    agentEndpointUrl: () => agentUrl,
    uiUrl: opts.uiUrl,
    staticAuthProviders: opts.authProviders,
    csrAutoApprove: opts.csrAutoApprove,
    console: { relay: consoleRelay, limits: consoleLimits },
  });
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
  });
  const agentServer = await startEndpoint({
    app: app.agent,
    pool,
    log,
    tls: { key: pki.agentServer.keyPem, cert: pki.agentServer.certPem, ca: bundlePem },
    host: agentAt.host,
    port: agentAt.port,
  });
  agentUrl ||= `https://${hostname()}:${agentServer.port}`;
  // FLIGHTCTL_DEBUG_MEMORY=<seconds>: log the process's memory breakdown periodically (capacity planning).
  if (process.env.FLIGHTCTL_DEBUG_MEMORY) {
    setInterval(
      () => log.warn({ memory: process.memoryUsage(), streams: notifier.size }, "memory"),
      Number(process.env.FLIGHTCTL_DEBUG_MEMORY) * 1000,
    ).unref();
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
    close: () =>
      (closing ??= (async () => {
        await Promise.all([server.close(), agentServer.close()]);
        await lastSeen.close();
        await notifier.close();
        await consoleRelay.close();
        await pool.end();
      })()),
  };
}

const secondsFromEnv = (name: string) => (process.env[name] ? Number(process.env[name]) * 1000 : undefined);

/** Stops `close` on SIGINT/SIGTERM; a second signal exits at once. */
export function closeOnSignals(close: () => Promise<void>, log: Logger) {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ signal }, "shutting down");
    close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => onSignal("SIGINT"));
  process.on("SIGTERM", () => onSignal("SIGTERM"));
}

/** Runs the process from environment settings (also the bin entry point). */
export async function main() {
  const log = createLogger("flightctl-api");
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    log.fatal("DATABASE_URL is required (e.g. postgres://user:pass@host:5432/flightctl)");
    process.exit(2);
  }
  try {
    const api = await startApi({
      databaseUrl,
      dataDir: resolve(process.env.FLIGHTCTL_DATA_DIR ?? ".data"),
      address: process.env.FLIGHTCTL_API_ADDRESS ?? "0.0.0.0:3443",
      agentAddress: process.env.FLIGHTCTL_AGENT_ADDRESS ?? "0.0.0.0:7443",
      agentEndpointUrl: process.env.FLIGHTCTL_AGENT_ENDPOINT_URL,
      authProviders: process.env.FLIGHTCTL_AUTH_CONFIG ? readAuthProviders(process.env.FLIGHTCTL_AUTH_CONFIG) : [],
      csrAutoApprove: process.env.FLIGHTCTL_CSR_AUTO_APPROVE !== "false",
      uiUrl: process.env.FLIGHTCTL_UI_URL,
      heartbeatMs: process.env.FLIGHTCTL_HEARTBEAT_SECONDS ? Number(process.env.FLIGHTCTL_HEARTBEAT_SECONDS) * 1000 : undefined,
      lastSeenFlushMs: process.env.FLIGHTCTL_LASTSEEN_FLUSH_SECONDS
        ? Number(process.env.FLIGHTCTL_LASTSEEN_FLUSH_SECONDS) * 1000
        : undefined,
      webDir: process.env.FLIGHTCTL_WEB_DIR,
      redisUrl: process.env.FLIGHTCTL_REDIS_URL || undefined,
      log,
    });
    closeOnSignals(api.close, log);
  } catch (err) {
    log.fatal({ err }, "cannot start");
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
