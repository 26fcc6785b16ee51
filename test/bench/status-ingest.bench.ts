// npm run bench:status-ingest — status reports stored per second by `flightctl-api` (own process): N devices (BENCH_DEVICES,
// default 2,000; provisioned directly like bench:fleet-scale) each on its own mTLS connection from a load generator
// process (status-ingest-load.ts, the agent's clients and status sender), each report a changed status on the device's
// StreamDeviceStatus stream, sent as soon as the previous one is acknowledged but at most BENCH_REPORTS_PER_DEVICE_S
// (9) a second: the per-device rate limit stays on at its default (600 a minute), so what is measured is what a fleet
// may send. For BENCH_SECONDS (30): reports acknowledged per second, checked in the database (the devices table's row
// updates, and every device's last acknowledged report stored), CPU per report of the API, the load generator and
// this database's Postgres backends (and the rest of the shared machine apart), and the ratio to the same run's pgbench simple-update TPS (same server).
import { fork, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate } from "../../db/migrate.js";
import { initialDeviceStatus } from "../../server/devices/device-service.js";
import { clientSigner, deviceIdentity, pgbenchTps } from "./bench-fixtures.js";
import { BENCH_APPLICATION, pgMeter } from "./pg-meter.js";
import { benchDatabase, cpuMs, machineCpuMs, startServerProcess } from "./server-process.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const PER_DEVICE_S = Number(process.env.BENCH_REPORTS_PER_DEVICE_S ?? 9);
const ORG = "00000000-0000-0000-0000-000000000000";

type Done = { type: "done"; acked: number; failed: number; seqSum: number; errors: Record<string, number> };

/** The next message of `type` from the load generator. */
function next<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`load generator exited (${code})`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

const db = await benchDatabase();
mkdirSync(join(process.cwd(), ".data"), { recursive: true });
const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-status-"));
chmodSync(dataDir, 0o755);
let load: ChildProcess | undefined;
let api: Awaited<ReturnType<typeof startServerProcess>> | undefined;
try {
  await migrate(db.url);
  api = await startServerProcess(db.url, dataDir, { FLIGHTCTL_RATE_LIMITS: "true" }, ["--max-old-space-size=1024"]);
  const pool = new pg.Pool({ connectionString: db.url, max: 2, application_name: BENCH_APPLICATION });

  let t = performance.now();
  const signer = clientSigner(dataDir);
  const identities = [];
  for (let i = 0; i < DEVICES; i++) identities.push(await deviceIdentity(signer, ORG));
  const initial = JSON.stringify({ ...initialDeviceStatus(), lifecycle: { status: "Enrolled" } });
  for (let i = 0; i < DEVICES; i += 1000) {
    await pool.query(
      `insert into devices (org_id, name, labels, spec, status) select $1, n, '{}'::jsonb, '{}'::jsonb, $3::jsonb from unnest($2::text[]) n`,
      [ORG, identities.slice(i, i + 1000).map((d) => d.name), initial],
    );
  }
  const identitiesFile = join(dataDir, "identities.json");
  writeFileSync(identitiesFile, JSON.stringify(identities), { mode: 0o600 });
  console.log(`${DEVICES} devices provisioned in ${((performance.now() - t) / 1000).toFixed(0)} s`);

  load = fork(join(dirname(fileURLToPath(import.meta.url)), "status-ingest-load.ts"), [], {
    execArgv: ["--max-old-space-size=2048", "--import", "tsx"],
    env: {
      ...process.env,
      BENCH_LOAD_JOB: JSON.stringify({
        server: `https://localhost:${api.agentPort}`,
        caPem: readFileSync(api.bundlePath, "utf8"),
        identitiesFile,
      }),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const ready = await next<{ connectS: number; failed: number }>(load, "ready");
  console.log(`${DEVICES} devices connected with a first report in ${ready.connectS.toFixed(1)} s (${ready.failed} failed)`);

  // What the database holds: the devices table's row updates and commits (cumulative statistics, flushed by idle
  // backends within 10 s), and Σ of every device's benchSeq (its last stored report).
  const counters = async () =>
    (
      await pool.query(
        `select (select n_tup_upd from pg_stat_user_tables where relname = 'devices')::float8 upd,
                (select xact_commit from pg_stat_database where datname = current_database())::float8 commits,
                (select coalesce(sum((status->'systemInfo'->'customInfo'->>'benchSeq')::int), 0) from devices)::float8 seq`,
      )
    ).rows[0] as { upd: number; commits: number; seq: number };
  const settle = () => new Promise((r) => setTimeout(r, 11_000));
  await settle();
  const before = await counters();
  // The CPU of this database's Postgres backends (the API's pool), apart from whatever else the shared machine runs.
  const pgCpu = await pgMeter(pool, new URL(db.url).pathname.slice(1), []);
  const cpu0 = { api: api.cpuMs(), load: cpuMs(load.pid!), machine: machineCpuMs() };
  t = performance.now();
  load.send({ type: "go", seconds: SECONDS, perDeviceS: PER_DEVICE_S });
  const done = await next<Done>(load, "done");
  const windowS = (performance.now() - t) / 1000;
  const used = { api: api.cpuMs() - cpu0.api, load: cpuMs(load.pid!) - cpu0.load, machine: machineCpuMs() - cpu0.machine, pg: 0 };
  used.pg = (await pgCpu.end(1)).backendsMs;
  await settle();
  const after = await counters();
  const stored = after.upd - before.upd;
  const perReport = (ms: number) => (ms / done.acked).toFixed(3);
  // The rest: the Postgres processes shared by all databases (WAL writer, checkpointer…) and anything else running.
  const rest = used.machine - used.api - used.load - used.pg;

  const tps = pgbenchTps(process.env.DATABASE_URL ?? db.url, ["-b", "simple-update", "-c", "4", "-j", "2", "-T", "10"]);
  const ackedPerS = done.acked / windowS;
  console.log(
    `\n${DEVICES} devices, each at most ${PER_DEVICE_S} reports/s (rate limits on), ${windowS.toFixed(1)} s: ${done.acked} reports acknowledged (${done.failed} failed${done.failed ? `: ${JSON.stringify(done.errors)}` : ""})`,
  );
  console.log(
    `database: ${stored} device row updates (${(stored / done.acked).toFixed(3)} per acknowledged report), ${(after.commits - before.commits).toFixed(0)} commits in the bench database; Σ benchSeq stored ${after.seq} = Σ last acknowledged ${done.seqSum}: ${after.seq === done.seqSum ? "yes" : "NO"}`,
  );
  console.log(
    `CPU ms per report: api ${perReport(used.api)}, load generator ${perReport(used.load)}, Postgres backends of the bench database ${perReport(used.pg)}, rest of the machine ${perReport(rest)}; machine busy ${((used.machine / (windowS * 1000 * 2)) * 100).toFixed(0)} % of 2 cores`,
  );
  console.log(
    "\n| devices | reports acknowledged/s | device rows updated/s | API CPU/report | load generator CPU/report | Postgres backends CPU/report | pgbench simple-update TPS (same run) | ratio |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  console.log(
    `| ${DEVICES.toLocaleString("en")} | ${ackedPerS.toFixed(0)} | ${(stored / windowS).toFixed(0)} | ${perReport(used.api)} ms | ${perReport(used.load)} ms | ${perReport(used.pg)} ms | ${tps.toFixed(0)} | ${(ackedPerS / tps).toFixed(2)} |`,
  );
  await pool.end();
} finally {
  load?.send({ type: "exit" });
  await api?.close();
  rmSync(dataDir, { recursive: true, force: true });
  await db.cleanup();
}
