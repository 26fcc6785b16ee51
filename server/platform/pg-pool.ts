// The server processes' database pools. A connection the server closes (restart, failover, pg_terminate_backend)
// makes its pg Client emit 'error'; with no listener that event ends the process. pg-pool listens only while a client
// is idle, so a client checked out for a transaction needs a listener of its own: guardPool puts one on every client
// (the statement in flight fails on its own and becomes Unavailable in errors.ts). retryingReads runs a read-only
// statement once more when its connection was lost.
import pg from "pg";
import type { Logger } from "pino";
import { isConnectFailure, isConnectionError, isReadOnlyStatement, sqlState } from "./pg-errors.js";

export interface PoolOptions {
  connectionString: string;
  max: number;
  /** Waiting for a connection longer than this fails the statement (Unavailable) instead of hanging (ms; 0: no limit). */
  connectTimeoutMs?: number;
  log: Logger;
  /** Names the pool in the log lines ("api", "worker"). */
  name: string;
}

/** Logs a lost connection at most once per second per pool, with its SQLSTATE (a restart drops every connection at once). */
function lostConnectionLogger(log: Logger, name: string) {
  let last = 0;
  let dropped = 0;
  return (err: unknown) => {
    const now = Date.now();
    if (now - last < 1000) {
      dropped++;
      return;
    }
    log.warn({ err, pool: name, sqlState: sqlState(err), alsoLost: dropped || undefined }, "database connection lost");
    last = now;
    dropped = 0;
  };
}

/** Listens for 'error' on `pool` and on every client it opens, so a lost connection never ends the process. */
export function guardPool(pool: pg.Pool, log: Logger, name: string): pg.Pool {
  const lost = lostConnectionLogger(log, name);
  pool.on("error", lost);
  pool.on("connect", (client) => client.on("error", lost));
  return pool;
}

/** A guarded pool (see guardPool). */
export function createPool(opts: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 0,
    // Named in pg_stat_activity, so flightctl-restore can say which process still uses the database.
    application_name: `flightctl-${opts.name}`,
  });
  return guardPool(pool, opts.log, opts.name);
}

/** A pause before the retry so the event loop first sees the other connections the server closed (they leave the pool). */
const RETRY_PAUSE_MS = 20;

type Query = (config: string | pg.QueryConfig, values?: unknown[]) => Promise<pg.QueryResult>;

/**
 * `pool` as the typed database uses it (db.ts createDb):
 * - query() runs a read-only statement (isReadOnlyStatement) a second time, on another connection, when the first
 *   attempt's connection was lost. pool.query runs one statement alone (transactions take a client with connect()),
 *   so nothing was half done. Writes are never retried: whether one committed is unknown.
 * - connect() hands out clients that go back to the pool (which discards them) as soon as their connection is lost.
 *   drizzle 0.45 sends BEGIN before the try whose finally releases the client, so a connection lost at BEGIN would
 *   keep its pool slot forever (a few restarts and the pool is empty); releasing twice is harmless here.
 */
export function resilientPool(pool: pg.Pool): pg.Pool {
  const query = pool.query.bind(pool) as unknown as Query;
  const retrying: Query = async (config, values) => {
    try {
      return await query(config, values);
    } catch (err) {
      const text = typeof config === "string" ? config : config.text;
      // Only a connection lost while in use: when none could be had, trying again at once would wait for the same.
      if (!isConnectionError(err) || isConnectFailure(err) || !isReadOnlyStatement(text)) throw err;
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      return query(config, values);
    }
  };
  const connect = async (...args: unknown[]) => {
    if (args.length > 0) return (pool.connect as (...a: unknown[]) => unknown)(...args); // callback style: as is
    const client = await pool.connect();
    const release = client.release;
    let released = false;
    const onLost = (err: Error) => client.release(err);
    client.release = (err?: Error | boolean) => {
      if (released) return;
      released = true;
      client.removeListener("error", onLost);
      release(err);
    };
    client.once("error", onLost);
    return client;
  };
  return new Proxy(pool, {
    get(target, prop) {
      if (prop === "query") return retrying;
      if (prop === "connect") return connect;
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
