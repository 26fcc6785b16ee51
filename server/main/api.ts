// flightctl-api: the API server process (user endpoint). Run directly, or started by all-in-one.ts.
//   DATABASE_URL (required), FLIGHTCTL_DATA_DIR (default .data), FLIGHTCTL_API_ADDRESS (default 0.0.0.0:3443), LOG_LEVEL
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import { pendingMigrations } from "../../db/migrate.js";
import { createApp } from "../app.js";
import { startUserEndpoint } from "../platform/http-server.js";
import { createLogger, type Logger } from "../platform/logger.js";
import { ensureServerPki } from "../platform/pki.js";

export interface ApiOptions {
  databaseUrl: string;
  dataDir: string;
  /** host:port; port 0 picks a free one. */
  address: string;
  log?: Logger;
}

export interface RunningApi {
  port: number;
  caPath: string;
  close(): Promise<void>;
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
  const pki = await ensureServerPki(opts.dataDir);
  const app = createApp({ pool, log });
  const { host, port } = parseAddress(opts.address);
  const server = await startUserEndpoint({ app, pool, log, tls: { key: pki.server.keyPem, cert: pki.server.certPem }, host, port });
  log.info({ address: `${host}:${server.port}`, ca: pki.caPath }, "user endpoint listening");
  let closing: Promise<void> | undefined;
  return {
    port: server.port,
    caPath: pki.caPath,
    close: () => (closing ??= server.close().then(() => pool.end())),
  };
}

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

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
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
      log,
    });
    closeOnSignals(api.close, log);
  } catch (err) {
    log.fatal({ err }, "cannot start");
    process.exit(1);
  }
}
