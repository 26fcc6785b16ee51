// What every server process does around its own start: read the configuration once (a bad setting stops it with a
// message naming the variable, exit 2), log at the configured level, stop cleanly on SIGINT/SIGTERM.
import { ConfigError, loadConfig, type ServerConfig } from "../config.js";
import { createLogger, type Logger } from "../../lib/logger.js";

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

/**
 * pg-pool throws when a client is released twice. graphile-worker 0.17 can do that to its LISTEN client when Postgres
 * terminates the connection while the client is being released (seen once in the fault suite's pg_terminate_backend
 * run): the client is already back in the pool and the listener reconnects, so the process carries on with a log
 * line instead of exiting. Any other uncaught error still ends the process.
 */
const HARMLESS_DOUBLE_RELEASE = /^Release called on client which has already been released to the pool/;

function survivePoolDoubleRelease(log: Logger) {
  const handle = (err: unknown, origin: string) => {
    if (err instanceof Error && HARMLESS_DOUBLE_RELEASE.test(err.message)) {
      log.error({ err, origin }, "a database client was released twice (a lost connection); carrying on");
      return;
    }
    log.fatal({ err, origin }, "uncaught error");
    process.exit(1);
  };
  process.on("uncaughtException", (err) => handle(err, "uncaughtException"));
  process.on("unhandledRejection", (err) => handle(err, "unhandledRejection"));
}

/** Runs process `name`: `start` gets the configuration and a logger and returns how to stop what it started. */
export async function runProcess(name: string, start: (config: ServerConfig, log: Logger) => Promise<() => Promise<void>>): Promise<void> {
  let config: ServerConfig;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${name}: invalid configuration: ${err.message}\n`);
    process.exit(2);
  }
  const log = createLogger(name, config.logLevel);
  survivePoolDoubleRelease(log);
  try {
    closeOnSignals(await start(config, log), log);
  } catch (err) {
    log.fatal({ err }, "cannot start");
    process.exit(1);
  }
}

/** The database URL the process needs; stops it with a clear message when unset. */
export function requireDatabaseUrl(config: ServerConfig, log: Logger): string {
  if (config.databaseUrl) return config.databaseUrl;
  log.fatal("DATABASE_URL is required (e.g. postgres://user:pass@host:5432/flightctl)");
  process.exit(2);
}
