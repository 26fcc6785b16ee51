// npm run bench:fleet-scale — N simulated agents (default 1k, 5k, 10k; BENCH_COUNTS=1000,5000) each holding its
// rendered-device stream over its own mTLS connection to `flightctl-api` (own process), with `flightctl-worker`
// rendering (own process); simulator and server share this 2-core machine. Per N: server RSS and CPU while idle,
// lastSeen (heartbeat) writes per second, and the time from a spec change on every device (one PatchDevice each,
// 64 in flight) until all N agents run the new version. Baseline, same run: pgbench simple-update TPS on the same
// Postgres. Devices are provisioned directly (key + management certificate from the service's client signer + row),
// since enrollment has its own benchmark (bench:enroll). BENCH_REPLICAS=2 runs 2 APIs and 2 workers on the same
// database, the agents reaching the APIs through haproxy (TCP mode, TLS passed through; test/helpers/haproxy.ts);
// BENCH_REPLICAS=1,2 runs both setups one after the other and prints them in one table.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { enqueueRenders } from "../../server/jobs/queues.js";
import type { Executor } from "../../server/platform/resource/resource-store.js";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { migrate } from "../../db/migrate.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { clientSigner, deviceIdentity, pgbenchTps } from "./bench-fixtures.js";
import { initialDeviceStatus } from "../../server/devices/device-service.js";
import { simulatorProcess } from "./sim-process.js";
import { AgentSessionManager } from "../../agent/session.js";
import type { AgentConfig } from "../../agent/config.js";
import { benchDatabase, cpuMs, machineCpuMs, startServerProcess } from "./server-process.js";
import { startHaproxy, type Haproxy } from "../helpers/haproxy.js";
import { BENCH_APPLICATION, pgMeter } from "./pg-meter.js";
import { request } from "node:https";

const COUNTS = (process.env.BENCH_COUNTS ?? "1000,5000,10000").split(",").map(Number);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
// bench:rollout sets it: also roll a template change out in 4 batches under a disruption budget.
const POLICY = process.env.BENCH_POLICY === "1";
const REPLICAS = (process.env.BENCH_REPLICAS ?? "1").split(",").map(Number);
const ORG = "00000000-0000-0000-0000-000000000000";

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** The kinds of memory in a process's RSS (kB), from /proc/<pid>/smaps_rollup. */
const smapsRollup = (pid: number) =>
  readFileSync(`/proc/${pid}/smaps_rollup`, "utf8")
    .split("\n")
    .filter((l) => /^(Rss|Anonymous|Private_Dirty|Shared_Clean|Private_Clean|Swap):/.test(l))
    .map((l) => l.replace(/\s+/g, " "))
    .join(", ");

/**
 * BENCH_MALLOC_INFO=<dir>: where an API's native memory lies — its smaps and glibc's malloc_info() (through gdb, which
 * stops the process for a second or two), written there as <label>-<pid>.smaps / .malloc.xml.
 */
function mallocInfo(pid: number, dir: string, label: string) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${label}-${pid}.smaps`), readFileSync(`/proc/${pid}/smaps`, "utf8"));
  const out = join(dir, `${label}-${pid}.malloc.xml`);
  const calls = [`call (void*)fopen("${out}","w")`, "call (int)malloc_info(0,$1)", "call (int)fclose($1)"];
  spawnSync("gdb", ["-p", String(pid), "-batch", ...calls.flatMap((c) => ["-ex", c])], { stdio: "ignore", timeout: 60_000 });
}

/** Asks `pid` (started with --heapsnapshot-signal=SIGUSR2) for a heap snapshot and waits until it is written. */
async function heapSnapshot(pid: number, dir: string) {
  const files = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot")) : []);
  const before = new Set(files());
  process.kill(pid, "SIGUSR2");
  for (let i = 0; i < 600 && files().every((f) => before.has(f)); i++) await new Promise((r) => setTimeout(r, 500));
  // A snapshot is written in pieces: wait for its size to settle.
  let size = -1;
  for (let i = 0; i < 120; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = files().reduce((a, f) => a + (before.has(f) ? 0 : statSync(join(dir, f)).size), 0);
    if (now === size) break;
    size = now;
  }
}

/** Polls `fn` until true; a slow wait prints `progress()` every 30 s, so a stall shows where devices are stuck. */
async function waitUntil(
  what: string,
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  progress?: () => Promise<string>,
  pollMs = 250,
) {
  const start = Date.now();
  const deadline = start + timeoutMs;
  let nextReport = start + 30_000;
  while (Date.now() < deadline) {
    if (await fn()) return;
    if (progress && Date.now() >= nextReport) {
      nextReport += 30_000;
      console.log(`  … ${((Date.now() - start) / 1000).toFixed(0)} s waiting for ${what}: ${await progress()}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  throw new Error(`timed out waiting for ${what}${progress ? `: ${await progress()}` : ""}`);
}

/** Devices whose reported version is their rendered version (and, if given, whose render carries `content`). */
async function runningLatest(pool: pg.Pool, content?: string): Promise<number> {
  const r = await pool.query(
    `select count(*)::int c from devices d join device_renders r on r.org_id = d.org_id and r.name = d.name
      where d.status->'config'->>'renderedVersion' = r.rendered_version::text
        and ($1::text is null or r.spec->'config'->0->'inline'->0->>'content' = $1)`,
    [content ?? null],
  );
  return r.rows[0].c as number;
}

/**
 * Where the CPU of a phase went: api, worker, simulator (its own process) and the rest of the machine (Postgres, mostly),
 * in ms per device updated — the figure that says which part to make cheaper (they share 2 cores, so the sum bounds
 * the update time). The rest is the machine's total minus the three processes: Postgres backends come and go, so
 * summing the live ones would lose the CPU of those that ended.
 */
function cpuMeter(apiPids: number[], workerPids: number[], simPid: number, lbPid?: number) {
  const sum = (pids: number[]) => pids.reduce((a, p) => a + cpuMs(p), 0);
  const read = () => ({
    api: sum(apiPids),
    worker: sum(workerPids),
    lb: lbPid ? cpuMs(lbPid) : 0,
    sim: cpuMs(simPid),
    machine: machineCpuMs(),
  });
  const start = read();
  return (devices: number) => {
    const end = read();
    const d = (k: keyof typeof start) => (end[k] - start[k]) / devices;
    const rest = d("machine") - d("api") - d("worker") - d("lb") - d("sim");
    const n = apiPids.length > 1 ? ` (${apiPids.length} processes each)` : "";
    return {
      // Server side: API(s), worker(s) and the rest of the machine (Postgres, mostly); the load balancer apart.
      serverMs: d("api") + d("worker") + rest,
      simMs: d("sim"),
      restMs: rest,
      text: `CPU ms/device${n}: api ${d("api").toFixed(1)}, worker ${d("worker").toFixed(1)}${lbPid ? `, haproxy ${d("lb").toFixed(1)}` : ""}, simulator ${d("sim").toFixed(1)}, rest (Postgres…) ${rest.toFixed(1)}`,
    };
  };
}

/** flightctl_api_device_streams of one API replica's /metrics (the streams it holds, by its own count). */
function replicaStreams(port: number, ca: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    request(`https://localhost:${port}/metrics`, { ca, headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c));
      res.on("end", () => resolve(Number(/^flightctl_api_device_streams\{[^}]*\} (\d+)$/m.exec(body)?.[1] ?? Number.NaN)));
    })
      .on("error", reject)
      .end();
  });
}

/**
 * BENCH_SIM_PROF=<dir>: a V8 CPU profile of the simulator process over each fleet change, written there (the
 * server's own profile: BENCH_CPU_PROF), and over each connection storm (simulator-connect-<N>.cpuprofile).
 */
async function profileSimulator<T>(sim: ReturnType<typeof simulatorProcess>, label: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_SIM_PROF;
  if (!dir) return fn();
  await sim.profileStart();
  try {
    return await fn();
  } finally {
    await sim.profileStop(join(dir, `simulator-${label}.cpuprofile`));
  }
}

/**
 * BENCH_PG_STATS=<dir> (with DATABASE_URL on a server that preloads pg_stat_statements, created in its `postgres`
 * database): snapshots of pg_stat_statements, pg_stat_wal and the bench database's table counters at the start and
 * end of each fleet change, the simulated agents' event counts (status reports sent…), Postgres's CPU, and the window in the monotonic clock of V8 CPU profiles (µs), written to <dir> for
 * `npm run bench:profile` (test/bench/profile-update.ts) to turn into per-device-update figures.
 */
async function pgStatsWindow(
  label: string,
  benchUrl: string,
  agentEvents: () => Promise<Record<string, number>>,
): Promise<{ end(): Promise<void> }> {
  const dir = process.env.BENCH_PG_STATS;
  const server = process.env.DATABASE_URL;
  if (!dir || !server) return { end: async () => {} };
  mkdirSync(dir, { recursive: true });
  const snapshot = async () => {
    const c = new pg.Client({ connectionString: server });
    await c.connect();
    try {
      const statements = (
        await c.query(
          `select s.queryid::text, d.datname, s.query, s.calls::float8, s.rows::float8, s.total_exec_time, s.shared_blks_hit::float8,
                  s.shared_blks_read::float8, s.shared_blks_dirtied::float8, s.wal_records::float8, s.wal_fpi::float8, s.wal_bytes::float8
             from pg_stat_statements s join pg_database d on d.oid = s.dbid`,
        )
      ).rows;
      const wal = (await c.query(`select pg_current_wal_lsn()::text lsn, pg_backend_pid() pid, w.* from pg_stat_wal w`)).rows[0];
      const b = new pg.Client({ connectionString: benchUrl });
      await b.connect();
      const tables = (
        await b
          .query(
            `select relname, n_tup_ins::float8, n_tup_upd::float8, n_tup_hot_upd::float8, n_tup_del::float8, seq_scan::float8, idx_scan::float8
               from pg_stat_user_tables`,
          )
          .finally(() => b.end())
      ).rows;
      return {
        at: Date.now(),
        monoUs: Number(process.hrtime.bigint() / 1000n),
        statements,
        wal,
        tables,
        postgresCpuMs: postgresCpuMs(Number(wal.pid)),
        agentEvents: await agentEvents(),
      };
    } finally {
      await c.end();
    }
  };
  const before = await snapshot();
  return {
    async end() {
      const after = await snapshot();
      writeFileSync(join(dir, `pgstats-${label}.json`), JSON.stringify({ label, before, after }));
      // The database as the change left it, for EXPLAIN (ANALYZE, BUFFERS) with realistic rows afterwards.
      execFileSync("pg_dump", ["-Fc", "-f", join(dir, `db-${label}.dump`), benchUrl], { stdio: "ignore" });
    },
  };
}

/**
 * CPU ms a local Postgres has used so far: the postmaster's own and its ended children's (cutime, cstime), plus its
 * live children's; 0 when the server is not on this machine. `backendPid` is any backend of it.
 */
function postgresCpuMs(backendPid: number): number {
  const stat = (pid: number | string) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  try {
    const postmaster = Number(stat(backendPid)[1]);
    const p = stat(postmaster);
    let ticks = Number(p[11]) + Number(p[12]) + Number(p[13]) + Number(p[14]);
    for (const pid of readdirSync("/proc").filter((x) => /^\d+$/.test(x))) {
      try {
        const f = stat(pid);
        if (Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
      } catch {
        // gone meanwhile
      }
    }
    return ticks * 10;
  } catch {
    return 0;
  }
}

/** One setup (`replicas` APIs and workers) through every count; returns its table rows. */
async function runSetup(replicas: number): Promise<string[]> {
  const db = await benchDatabase();
  mkdirSync(join(process.cwd(), ".data"), { recursive: true });
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-fleet-"));
  chmodSync(dataDir, 0o755);
  const simDir = join(dataDir, "sim");
  const rows: string[] = [];
  const workers: ReturnType<typeof spawn>[] = [];
  const apis: Awaited<ReturnType<typeof startServerProcess>>[] = [];
  let lb: Haproxy | undefined;
  let simChild: ReturnType<typeof simulatorProcess> | undefined;
  try {
    await migrate(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 4, application_name: BENCH_APPLICATION });
    // The API and worker processes that count their statements (count-statements.ts), asked by pgMeter.
    const statementCounters: { pid: number; file: string }[] = [];
    const jobs = drizzle(pool) as unknown as Executor;
    // Which Postgres the figures are of: the embedded one (no DATABASE_URL) and a server's differ in version and
    // settings (autovacuum, shared_buffers), and runs are compared only on the same one.
    const server = (
      await pool.query(`select current_setting('server_version') v, current_setting('autovacuum') av, current_setting('shared_buffers') sb`)
    ).rows[0];
    console.log(
      `Postgres ${server.v} (${process.env.DATABASE_URL ? "DATABASE_URL" : "embedded"}), autovacuum ${server.av}, shared_buffers ${server.sb}`,
    );
    // The live heap is small (tens of MB at 1,000 streams); V8 lets garbage pile up to its default limit (~4 GB here)
    // before collecting it. A heap cap, as a deployment sets (docs/server.md), keeps RSS near what is really used.
    const heapMb = process.env.BENCH_SERVER_HEAP_MB ?? "1024";
    // Replicas share the data dir (one PKI: each API serves the same certificates), started one after the other.
    for (let i = 0; i < replicas; i++) {
      apis.push(
        await startServerProcess(
          db.url,
          dataDir,
          {
            FLIGHTCTL_HEARTBEAT_SECONDS: "30",
            FLIGHTCTL_DEBUG_MEMORY: process.env.BENCH_DEBUG_MEMORY ?? "",
            BENCH_STATEMENTS_FILE: join(dataDir, `statements-api-${i}`),
          },
          heapMb ? [`--max-old-space-size=${heapMb}`] : [],
        ),
      );
    }
    const api = apis[0];
    const workerProf = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
    for (let i = 0; i < replicas; i++) {
      workers.push(
        spawn(
          process.execPath,
          [...workerProf, "--import", "tsx", "--import", "./test/bench/count-statements.ts", "server/main/worker.ts"],
          {
            env: {
              ...process.env,
              BENCH_STATEMENTS_FILE: join(dataDir, `statements-worker-${i}`),
              DATABASE_URL: db.url,
              LOG_LEVEL: "warn",
              FLIGHTCTL_WORKER_CONCURRENCY: "8",
              FLIGHTCTL_ROLLOUT_TICK_SECONDS: "2",
            },
            stdio: ["ignore", "inherit", "inherit"],
          },
        ),
      );
    }
    const workerPids = workers.map((w) => w.pid!);
    for (let i = 0; i < replicas; i++)
      statementCounters.push(
        { pid: apis[i].pid, file: join(dataDir, `statements-api-${i}`) },
        { pid: workerPids[i], file: join(dataDir, `statements-worker-${i}`) },
      );
    const apiPids = apis.map((a) => a.pid);
    // Agents reach the replicas through the load balancer; users (this bench) call the first replica directly.
    if (replicas > 1) lb = await startHaproxy({ backends: apis.map((a) => a.agentPort), maxConnections: 2 * Math.max(...COUNTS) + 1000 });
    // One connection per agent (two for a moment while one reconnects) through haproxy, whose maxconn the fd limit
    // caps: agents beyond it would wait forever.
    const counts = COUNTS.filter((n) => !lb || n <= lb.maxConnections);
    for (const n of COUNTS.filter((c) => !counts.includes(c)))
      console.log(
        `N=${n} with ${replicas} replicas: skipped, haproxy holds at most ${lb!.maxConnections} connections under this machine's open-files hard limit`,
      );
    const sim = simulatorProcess();
    simChild = sim;
    const ca = readFileSync(api.bundlePath, "utf8");
    const signer = clientSigner(dataDir);
    const config: AgentConfig = {
      server: `https://localhost:${lb ? lb.port : api.agentPort}`,
      caPem: ca,
      enrollmentCertPem: "",
      enrollmentKeyPem: "",
      dataDir: "",
      rootDir: "",
      statusUpdateIntervalMs: 60_000,
      specFetchErrorBaseDelayMs: 1000,
      specFetchErrorMaxDelayMs: 30_000,
      enrollmentVerifyIntervalMs: 1000,
      certCheckIntervalMs: 3600_000,
      defaultLabels: {},
    };
    const userBase = `https://localhost:${api.port}`;
    const userTransport = createGrpcTransport({ baseUrl: userBase, sessionManager: new AgentSessionManager(userBase, {}, { ca }) });
    const devices = createClient(DeviceService, userTransport);
    const fleets = createClient(FleetService, userTransport);
    const renderCount = async () =>
      Number((await pool.query(`select coalesce(sum(rendered_version), 0)::bigint s from device_renders`)).rows[0].s);
    /** When the last render with `content` was written (epoch ms, device_renders.rendered_at). */
    const renderedAt = async (content: string) =>
      Number(
        (
          await pool.query(
            `select extract(epoch from max(rendered_at)) * 1000 ms from device_renders where spec->'config'->0->'inline'->0->>'content' = $1`,
            [content],
          )
        ).rows[0].ms,
      );
    let provisioned = 0;
    const names: string[] = [];

    for (const n of counts) {
      // Provision devices provisioned..n-1: key, management certificate, row, and a render job.
      const t0 = performance.now();
      const batch: { name: string }[] = [];
      for (let i = provisioned; i < n; i++) {
        const { name, keyPem, certPem } = await deviceIdentity(signer, ORG);
        const certs = join(simDir, `agent-${String(i).padStart(5, "0")}`, "data", "certs");
        mkdirSync(certs, { recursive: true });
        writeFileSync(join(certs, "agent.key"), keyPem, { mode: 0o600 });
        writeFileSync(join(certs, "agent.crt"), certPem, { mode: 0o600 });
        batch.push({ name });
        names.push(name);
      }
      for (let i = 0; i < batch.length; i += 1000) {
        const slice = batch.slice(i, i + 1000).map((b) => b.name);
        await pool.query(
          `insert into devices (org_id, name, labels, spec, status) select $1, n, '{"bench":"fleet-scale"}'::jsonb, '{}'::jsonb, $3::jsonb from unnest($2::text[]) n`,
          [ORG, slice, JSON.stringify({ ...initialDeviceStatus(), lifecycle: { status: "Enrolled" } })],
        );
        await enqueueRenders(jobs, ORG, slice);
      }
      const provisionS = (performance.now() - t0) / 1000;
      provisioned = n;

      // Start (or restart with more) agents; they connect spread over a few seconds.
      const t1 = performance.now();
      const connectCpu = cpuMeter(apiPids, workerPids, sim.pid, lb?.pid);
      // BENCH_SIM_PROF: the connection storm is profiled too (stopped once every agent runs its version).
      if (process.env.BENCH_SIM_PROF) await sim.profileStart();
      const started = sim.start({ count: n, config, baseDir: simDir, jitterMs: Math.min(30_000, n * 3) });
      // Where the devices are while a change is slow: rendered or not, running it or not, heard from lately or not,
      // and what the simulated agents say about their streams.
      const stallReport = async (content: string) => {
        const r = await pool.query(
          `select count(*) filter (where r.spec->'config'->0->'inline'->0->>'content' = $1)::int rendered,
                  count(*) filter (where r.spec->'config'->0->'inline'->0->>'content' = $1 and d.status->'config'->>'renderedVersion' = r.rendered_version::text)::int running,
                  count(*) filter (where l.last_seen > now() - interval '60 seconds')::int seen60,
                  count(*) filter (where d.status->'summary'->>'status' = 'Online')::int online
             from devices d left join device_renders r on r.org_id = d.org_id and r.name = d.name
             left join device_last_seen l on l.org_id = d.org_id and l.name = d.name`,
          [content],
        );
        const { rendered: rd, running, seen60, online } = r.rows[0];
        return `rendered ${rd}, running ${running}, lastSeen<60s ${seen60}, Online ${online}; agents' events ${JSON.stringify(await sim.counts())}; ${await sim.connections()}`;
      };
      await started;
      await waitUntil(
        `${n} agents running their rendered version`,
        async () => (await runningLatest(pool)) >= n,
        20 * 60_000,
        async () =>
          `${await runningLatest(pool)} running; agents' events ${JSON.stringify(await sim.counts())}; ${await sim.connections()}`,
        // The count joins every device's status with its render: at 10,000 devices, polled every 250 ms over minutes,
        // it was a good part of the Postgres CPU charged to connecting (and took that CPU from the server).
        2000,
      );
      const connectS = (performance.now() - t1) / 1000;
      if (process.env.BENCH_SIM_PROF) await sim.profileStop(join(process.env.BENCH_SIM_PROF, `simulator-connect-${n}.cpuprofile`));
      // Per agent: what connecting and the first render's apply and status cost each side.
      console.log(`N=${n}: connected + first status in ${connectS.toFixed(1)} s; ${connectCpu(n).text.replace("/device", "/agent")}`);
      // What the agents did to get there (the simulator's event counts since its start): status reports per agent.
      const events = await sim.counts();
      console.log(
        `N=${n}: per agent while connecting, agents' events: ${["connected", "applied", "status"].map((e) => `${e} ${((events[e] ?? 0) / n).toFixed(2)}`).join(", ")}`,
      );

      // Idle: only heartbeats and periodic status.
      const stat = async () =>
        (await pool.query(`select n_tup_upd + n_tup_ins as w from pg_stat_user_tables where relname = 'device_last_seen'`)).rows[0]
          .w as number;
      const apisCpu = () => apis.reduce((a, x) => a + x.cpuMs(), 0);
      const rssSamples = apis.map(() => [] as number[]);
      /** An idle window: the APIs' CPU (% of one core, all together) and lastSeen rows written per second. */
      const idleWindow = async (label: string) => {
        const cpu0 = apisCpu();
        const w0 = await stat();
        let cpuAt = cpu0;
        const steps: string[] = [];
        for (let s = 0; s < IDLE_SECONDS; s += 5) {
          await new Promise((r) => setTimeout(r, 5000));
          for (const [i, a] of apis.entries()) rssSamples[i].push(rssMb(a.pid));
          // Each 5 s's CPU: is the idle CPU steady, or the connect storm's tail settling?
          const c = apisCpu();
          steps.push(((c - cpuAt) / 50).toFixed(1));
          if (process.env.BENCH_DEBUG_MEMORY)
            console.log(`  idle ${s + 5} s: API CPU ${steps.at(-1)} %, RSS ${rssSamples.map((r) => r.at(-1)?.toFixed(0)).join(" + ")} MB`);
          cpuAt = c;
        }
        const cpu = ((apisCpu() - cpu0) / (IDLE_SECONDS * 1000)) * 100;
        const writes = ((await stat()) - w0) / IDLE_SECONDS;
        console.log(
          `N=${n}: idle ${label}: API CPU ${cpu.toFixed(1)} % (each 5 s: ${steps.join(", ")}), lastSeen writes ${writes.toFixed(1)}/s`,
        );
        return { cpu, writes };
      };
      // The first window starts as the last agent runs its version: the storm's tail (status streams ending 60 s
      // after their report, lastSeen marks of the last minute) still falls in it. BENCH_SETTLE_SECONDS=<s>: a second
      // window that long after the first, once the storm's echoes are gone (the steady state).
      const first = await idleWindow("right after connecting");
      const settleS = Number(process.env.BENCH_SETTLE_SECONDS ?? 0);
      if (settleS > 0) {
        await new Promise((r) => setTimeout(r, settleS * 1000));
        await idleWindow(`settled (${settleS} s later)`);
      }
      // Of one core, all API processes together.
      const idleCpu = first.cpu;
      const heartbeatWrites = first.writes;
      const rssEach = rssSamples.map((r) => Math.max(...r));
      const rss = rssEach.map((r) => r.toFixed(0)).join(" + ");
      // Each replica's own count of the streams it holds (its /metrics).
      const streams = await Promise.all(apis.map((a) => replicaStreams(a.port, ca, a.headers)));
      console.log(
        `N=${n}: connected in ${connectS.toFixed(0)} s; idle RSS ${rss} MB, CPU ${idleCpu.toFixed(1)} %, lastSeen writes ${heartbeatWrites.toFixed(1)}/s; streams per replica ${streams.join(" + ")}`,
      );
      // BENCH_DEBUG_MEMORY=<ms> (the API also logs process.memoryUsage() that often): where each API's RSS lies.
      if (process.env.BENCH_DEBUG_MEMORY) for (const a of apis) console.log(`N=${n}: API ${a.pid} ${smapsRollup(a.pid)}`);
      if (process.env.BENCH_MALLOC_INFO) for (const a of apis) mallocInfo(a.pid, process.env.BENCH_MALLOC_INFO, `n${n}`);
      // BENCH_HEAP_SNAPSHOT=<dir>: a heap snapshot of each API at the end of the idle window.
      if (process.env.BENCH_HEAP_SNAPSHOT) for (const a of apis) await heapSnapshot(a.pid, process.env.BENCH_HEAP_SNAPSHOT);
      // BENCH_CONNECT_ONLY=1: connecting and idle only (no spec change phases). The agents stop as after a change, so
      // the next count's storm is every agent connecting (a running simulator's agents would hold their indexes and
      // the next start would claim directories past the provisioned ones).
      if (process.env.BENCH_CONNECT_ONLY === "1") {
        await sim.stop();
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }

      // A spec change on every device: one PatchDevice each, 64 in flight; done when all N run the new version.
      const version = 2 + COUNTS.indexOf(n);
      const t2 = performance.now();
      const patchCpu = cpuMeter(apiPids, workerPids, sim.pid, lb?.pid);
      // BENCH_SKIP_PATCH=1 leaves this phase out (its figure is then 0).
      let next = process.env.BENCH_SKIP_PATCH === "1" ? n : 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < n) {
            const name = names[next++];
            await devices.patchDevice(
              {
                name,
                patch: [
                  {
                    op: "add",
                    path: "/spec/config",
                    value: fromJson(ValueSchema, [{ name: "bench", inline: [{ path: "/etc/bench.conf", content: `round ${version}\n` }] }]),
                  },
                ],
              },
              { headers: api.headers },
            );
          }
        }),
      );
      const patchedS = (performance.now() - t2) / 1000;
      if (process.env.BENCH_SKIP_PATCH !== "1")
        await waitUntil(`${n} agents at the new version`, async () => (await runningLatest(pool, `round ${version}\n`)) >= n, 20 * 60_000);
      const updateS = (performance.now() - t2) / 1000;
      console.log(`N=${n}: PatchDevice each → all running in ${updateS.toFixed(1)} s; ${patchCpu(n).text}`);
      // One fleet template change: the fleet (selecting every bench device) is created with the content the devices
      // already run, then its template changes; time until every agent runs the new version. The worker renders it
      // all (renders/s over that window).
      const fleetVersion = 100 + COUNTS.indexOf(n);
      const template = (content: string) => ({ config: [{ name: "bench", inline: [{ path: "/etc/bench.conf", content }] }] });
      const putFleet = (spec: object) =>
        fleets.replaceFleet(
          {
            name: "bench",
            fleet: fromJson(FleetSchema, {
              apiVersion: "v1beta1",
              kind: "Fleet",
              metadata: { name: "bench" },
              spec: { selector: { matchLabels: { bench: "fleet-scale" } }, ...spec },
            }),
          },
          { headers: api.headers },
        );
      await putFleet({ template: { spec: template(`round ${version}\n`) } });
      await waitUntil(
        "the fleet to own every device",
        async () =>
          (
            await pool.query(`select count(*)::int c from devices d join fleets f on f.org_id = d.org_id and f.name = 'bench'
          where d.owner = 'Fleet/bench' and d.annotations->>'fleet-controller/renderedTemplateVersion' = f.annotations->>'fleet-controller/templateVersion'`)
          ).rows[0].c >= n,
        20 * 60_000,
      );
      // The fleet's first render gives every device a new version: let them all run it, or its tail (reports of
      // devices still applying it) would be counted in the change measured next.
      await waitUntil("every device running its render", async () => (await runningLatest(pool)) >= n, 20 * 60_000);
      const fleetChange = async (content: string, extra: object = {}) => {
        const renders0 = await renderCount();
        const stats = await pgStatsWindow(`${n}-${content.trim().replaceAll(" ", "-")}`, db.url, () => sim.counts());
        const t3 = performance.now();
        const t3Epoch = Date.now();
        const cpu = cpuMeter(apiPids, workerPids, sim.pid, lb?.pid);
        const events0 = await sim.counts();
        const pgCpu = await pgMeter(pool, new URL(db.url).pathname.slice(1), statementCounters);
        await putFleet({ template: { spec: template(content) }, ...extra });
        await waitUntil(
          `${n} agents at ${content.trim()}`,
          async () => (await runningLatest(pool, content)) >= n,
          30 * 60_000,
          () => stallReport(content),
        );
        const totalS = (performance.now() - t3) / 1000;
        const used = cpu(n);
        const pgUsed = await pgCpu.end(n);
        const events1 = await sim.counts();
        await stats.end();
        const renders = (await renderCount()) - renders0;
        // When the last render was written, by the database's clock (same machine): a poll would measure its own lag.
        const renderedS = ((await renderedAt(content)) - t3Epoch) / 1000;
        console.log(
          `N=${n}: fleet change "${content.trim()}" → all running in ${totalS.toFixed(1)} s (rendered at ${renderedS.toFixed(1)} s); ${used.text}`,
        );
        // The rest split: Postgres backends of this database, its shared background processes, the kernel and others.
        const pgText = `${pgUsed.backendsMs.toFixed(2)} + ${pgUsed.backgroundMs.toFixed(2)} ms, kernel/other ${(used.restMs - pgUsed.backendsMs - pgUsed.backgroundMs).toFixed(2)} ms, WAL ${(pgUsed.walBytes / 1024).toFixed(1)} KB, ${pgUsed.statements.toFixed(1)} statements`;
        console.log(`N=${n}: per device update: Postgres backends + background ${pgText}`);
        // What the agents did per device (applied, status reports sent, reconnects…): more than one apply and one
        // report each means repeated work, not a costlier one.
        const agentEvents = Object.keys(events1)
          .filter((k) => events1[k] !== (events0[k] ?? 0))
          .map((k) => `${k} ${((events1[k] - (events0[k] ?? 0)) / n).toFixed(2)}`)
          .join(", ");
        console.log(`N=${n}: per device update, agents' events: ${agentEvents || "none"}`);
        return { totalS, renderedS, renders, serverMs: used.serverMs, simMs: used.simMs, restMs: used.restMs, pgText };
      };
      const noPolicy = await profileSimulator(sim, `${n}-fleet`, () => fleetChange(`round ${fleetVersion}\n`));
      const batched = POLICY
        ? await fleetChange(`round ${fleetVersion} batched\n`, {
            rolloutPolicy: {
              deviceSelection: { strategy: "BatchSequence", sequence: [{ limit: "10%" }, { limit: "25%" }, { limit: "50%" }] },
              disruptionBudget: { maxUnavailable: Math.ceil(n / 4) },
            },
          })
        : undefined;
      // Release the devices (the next round patches them one by one again).
      await fleets.deleteFleet({ name: "bench" }, { headers: api.headers });
      await waitUntil(
        "the devices to be released",
        async () => (await pool.query(`select count(*)::int c from devices where owner is not null`)).rows[0].c === 0,
        10 * 60_000,
      );
      await sim.stop();
      // The next round starts the agents again; let the server notice the closed streams.
      await new Promise((r) => setTimeout(r, 2000));
      const tps = pgbenchTps(process.env.DATABASE_URL ?? db.url, ["-b", "simple-update", "-c", "4", "-j", "2", "-T", "10"]);
      rows.push(
        `| ${replicas} | ${n.toLocaleString("en")} | ${rss} MB | ${idleCpu.toFixed(1)} % | ${heartbeatWrites.toFixed(1)} | ${updateS.toFixed(1)} s (patches sent in ${patchedS.toFixed(1)} s) | ${noPolicy.totalS.toFixed(1)} s (all ${noPolicy.renders} rendered at ${noPolicy.renderedS.toFixed(1)} s: ${(noPolicy.renders / noPolicy.renderedS).toFixed(0)} renders/s) | ${noPolicy.serverMs.toFixed(1)} ms | ${noPolicy.restMs.toFixed(2)} ms: Postgres ${noPolicy.pgText} | ${noPolicy.simMs.toFixed(2)} ms |${batched ? ` ${batched.totalS.toFixed(1)} s |` : ""} ${connectS.toFixed(0)} s | ${provisionS.toFixed(0)} s | ${tps.toFixed(0)} |`,
      );
      console.log(rows[rows.length - 1]);
    }
    await pool.end();
    return rows;
  } finally {
    await lb?.close();
    for (const a of apis) await a.close();
    for (const w of workers) w.kill("SIGTERM");
    simChild?.kill();
    rmSync(dataDir, { recursive: true, force: true });
    await db.cleanup();
  }
}

const rows: string[] = [];
for (const r of REPLICAS) rows.push(...(await runSetup(r)));
console.log(
  `\nN agents streaming (own mTLS connection each, 30 s heartbeats, 60 s status interval), simulator and server on one 2-core machine; idle window ${IDLE_SECONDS} s; with 2 replicas, RSS per API process and CPU summed over them\n`,
);
console.log(
  `| APIs + workers | N | API RSS (max while idle) | API CPU idle | lastSeen writes/s | PatchDevice on every device → all running it | fleet template change, no policy → all running it | server CPU per device updated (APIs, workers, Postgres) | of which rest (machine − processes): Postgres backends + background, kernel/other, WAL, statements from API + worker | simulator CPU per device updated |${POLICY ? " fleet template change, 4 batches + budget → all running it |" : ""} agents connected + first status | provisioning | pgbench simple-update TPS (baseline) |`,
);
console.log(`|---|---|---|---|---|---|---|---|---|---|${POLICY ? "---|" : ""}---|---|---|`);
for (const r of rows) console.log(r);
