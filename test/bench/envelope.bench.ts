// npm run bench:envelope — the published envelope's "100,000 devices in the database" figures (docs/scale.md, issue 23).
// BENCH_DEVICES devices (100,000) are written in bulk with SQL (labels, a ≈1 KB status with conditions, applications
// and summary; last-seen marks) plus BENCH_EVENTS events (500,000); `flightctl-api` and `flightctl-worker` then run as
// their own processes and a fleet selecting every device is created through the API (the worker takes ownership and
// renders all of them). Measured with one gRPC client, one call at a time:
// - ListDevices, limit 1000, walking the pages (continue tokens): all devices; a label selector (10 %); a
//   label selector (0.1 %); field selectors on status (10 %) — p50/p99 per page;
// - the summaries the web UI polls: ListDevices summaryOnly (whole org, and with a label selector), ListFleets with
//   addDevicesSummary — p50/p99;
// - GetDevice — p50/p99;
// - a fleet template change (no policy) until every device's spec carries the new template version (the rollout's
//   writes) and every device is rendered with it (what an agent would be sent), with the CPU of each process;
// - PlanFleetRollout (the dry run of a batched rollout with a disruption budget over the 100,000) — p50/p99;
// - database bytes per device (heap + TOAST, indexes) and per event.
// Same-run baselines: each list's rows fetched directly through `pg`, the status counts as one GROUP BY, a bare
// `select count(*) from devices`, and pgbench select-only TPS on the same Postgres. DATABASE_URL: the server (a
// database of the bench's own is created and dropped); without it, embedded Postgres. Knobs: BENCH_DEVICES,
// BENCH_EVENTS, BENCH_ITERATIONS (100), BENCH_MIN_SAMPLES (20), BENCH_CASE_SECONDS (25: a case stops sampling after
// this once it has the minimum), BENCH_WORKER_CONCURRENCY (4), BENCH_SKIP_FLEET=1 (reads and sizes only).
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { fromJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { migrate } from "../../db/migrate.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { DeviceStatusSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { createDeviceStore } from "../../server/devices/device-store.js";
import { createDb } from "../../server/platform/db.js";
import { benchDatabase, cpuMs, machineCpuMs, startServerProcess } from "./server-process.js";
import { pgbenchTps } from "./bench-fixtures.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 500_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 100);
const WARMUP = 3;
const MIN_SAMPLES = Number(process.env.BENCH_MIN_SAMPLES ?? 20);
const BUDGET_S = Number(process.env.BENCH_CASE_SECONDS ?? 25);
const ORG = "00000000-0000-0000-0000-000000000000";
const FLEET = "envelope";
// BENCH_SKIP_FLEET=1: no fleet (no ownership, renders or rollouts): the reads and sizes of freshly written rows only.
const SKIP_FLEET = process.env.BENCH_SKIP_FLEET === "1";
const started = performance.now();
const log = (what: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${what}`);

interface Stats {
  p50: number;
  p99: number;
  n: number;
  /** The API process's CPU per call, ms (warm-up included): what a call costs whatever else the machine runs. */
  apiCpu: number;
}

/** The API process's CPU so far, ms (set once it runs; 0 before). */
let apiCpuMs = () => 0;

/**
 * p50/p99 of `fn` over ITERATIONS sequential calls after WARMUP (ms), or fewer (at least MIN_SAMPLES) once a case
 * has taken BUDGET_S seconds: a 1,000-device page takes about a second here, and the run must stay within minutes.
 */
async function measure(fn: (i: number) => Promise<unknown>, iterations = ITERATIONS): Promise<Stats> {
  const cpu0 = apiCpuMs();
  for (let i = 0; i < WARMUP; i++) await fn(i);
  const samples: number[] = [];
  const t1 = performance.now();
  for (let i = 0; i < iterations; i++) {
    if (samples.length >= MIN_SAMPLES && performance.now() - t1 > BUDGET_S * 1000) break;
    const t0 = performance.now();
    await fn(i + WARMUP);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { p50: at(0.5), p99: at(0.99), n: samples.length, apiCpu: (apiCpuMs() - cpu0) / (samples.length + WARMUP) };
}

/** CPU ms used so far by the Postgres backends connected to this database (those alive now; /proc). */
async function backendsCpu(pool: pg.Pool): Promise<Map<number, number>> {
  const pids = (await pool.query("select pid from pg_stat_activity where datname = current_database()")).rows.map((r) => r.pid as number);
  const out = new Map<number, number>();
  for (const pid of pids) {
    try {
      out.set(pid, cpuMs(pid));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}
/** Backend CPU between two readings: backends alive at the end count from their start reading, or from 0 if new. */
const backendsDelta = (a: Map<number, number>, b: Map<number, number>) =>
  [...b].reduce((sum, [pid, ms]) => sum + ms - (a.get(pid) ?? 0), 0);

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** A status as an agent reports it (proto JSON, ≈1 KB); checked against the schema so the API can decode it. */
const baseStatus = {
  conditions: [
    "Updating:False:Updated",
    "SpecValid:True:Valid",
    "CPUPressure:False:Normal",
    "MemoryPressure:False:Normal",
    "DiskPressure:False:Normal",
  ].map((c) => {
    const [type, status, reason] = c.split(":");
    return { type, status, reason, message: `${type} is ${reason}`, lastTransitionTime: "2026-12-01T10:00:00Z" };
  }),
  systemInfo: {
    architecture: "amd64",
    bootID: "0b4d2c1e-6a0f-4e55-9d6b-3f2a8c1d7e90",
    operatingSystem: "linux",
    agentVersion: "v0.10.0",
    hostname: "edge-host",
    kernel: "5.14.0-427.el9.x86_64",
    distroName: "Red Hat Enterprise Linux",
    distroVersion: "9.4",
  },
  applications: [
    { name: "telemetry", ready: "2/2", restarts: 0, status: "Running", appType: "compose" },
    { name: "inference", ready: "1/1", restarts: 1, status: "Running", appType: "quadlet" },
  ],
  applicationsSummary: { status: "Healthy", info: "All application workloads are healthy." },
  resources: { cpu: "Healthy", memory: "Healthy", disk: "Healthy" },
  config: { renderedVersion: "1" },
  os: { image: "quay.io/example/os:9.4", imageDigest: "sha256:4c1a9e0f7b2d3a5c6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d" },
  updated: { status: "UpToDate" },
  summary: { status: "Online", info: "Device is online" },
  lifecycle: { status: "Enrolled" },
};
fromJson(DeviceStatusSchema, baseStatus);

/** Devices, last-seen marks and events in bulk (batches of 10,000 rows, progress lines), then VACUUM ANALYZE. */
async function load(pool: pg.Pool) {
  const batch = 10_000;
  // 1 in 10 Degraded, 1 in 20 Error, 1 in 50 Unknown (offline); 1 in 10 OutOfDate; 1 in 10 apps Degraded.
  for (let from = 1; from <= DEVICES; from += batch) {
    await pool.query(
      `insert into devices (org_id, name, labels, spec, status)
       select $1, 'dev-' || lpad(i::text, 6, '0'),
              jsonb_build_object('fleet', $5::text, 'region', 'region-' || (i % 10), 'site', 'site-' || (i % 1000),
                                 'model', 'model-' || (i % 5), 'tier', case when i % 2 = 0 then 'edge' else 'core' end,
                                 'alias', 'edge-' || i),
              '{}'::jsonb,
              $4::jsonb || jsonb_build_object(
                'summary', jsonb_build_object('status', case when i % 50 = 0 then 'Unknown' when i % 20 = 0 then 'Error'
                                                             when i % 10 = 0 then 'Degraded' else 'Online' end, 'info', 'Device is online'),
                'updated', jsonb_build_object('status', case when i % 10 = 3 then 'OutOfDate' else 'UpToDate' end),
                'applicationsSummary', jsonb_build_object('status', case when i % 10 = 7 then 'Degraded' else 'Healthy' end),
                'systemInfo', ($4::jsonb->'systemInfo') || jsonb_build_object('bootID', md5(i::text), 'hostname', 'edge-' || i))
       from generate_series($2::int, $3::int) as i`,
      [ORG, from, Math.min(from + batch - 1, DEVICES), JSON.stringify(baseStatus), FLEET],
    );
    if ((from - 1) % 50_000 === 0)
      log(`devices: ${Math.min(from + batch - 1, DEVICES).toLocaleString("en")} of ${DEVICES.toLocaleString("en")}`);
  }
  await pool.query(
    `insert into device_last_seen (org_id, name, last_seen)
     select $1, 'dev-' || lpad(i::text, 6, '0'), now() - (i % 60) * interval '1 second' from generate_series(1, $2::int) i`,
    [ORG, DEVICES],
  );
  const reasons = ["DeviceContentUpToDate", "DeviceContentOutOfDate", "ResourceUpdated", "DeviceConnected", "DeviceApplicationHealthy"];
  for (let from = 1; from <= EVENTS; from += 100_000) {
    await pool.query(
      `insert into events (org_id, created_at, reason, type, involved_kind, involved_name, actor, message, source_component, details)
       select $1, now() - (($3::int - i) * interval '100 milliseconds'), ($4::text[])[1 + i % 5], 'Normal', 'Device',
              'dev-' || lpad((1 + i % $5::int)::text, 6, '0'), 'service:flightctl-worker',
              'Device ' || 'dev-' || lpad((1 + i % $5::int)::text, 6, '0') || ' is running the latest rendered version', 'flightctl-worker',
              case when i % 5 = 2 then jsonb_build_object('updatedFields', jsonb_build_array('spec'), 'detailType', 'ResourceUpdated') end
       from generate_series($2::int, least($2::int + 99999, $3::int)) i`,
      [ORG, from, EVENTS, reasons, DEVICES],
    );
    log(`events: ${Math.min(from + 99_999, EVENTS).toLocaleString("en")} of ${EVENTS.toLocaleString("en")}`);
  }
  // VACUUM flushes the GIN pending list of the bulk insert (autovacuum would in production) and sets visibility.
  await pool.query("vacuum analyze devices");
  await pool.query("vacuum analyze device_last_seen");
  await pool.query("vacuum analyze events");
}

/** Heap + TOAST and index bytes of the tables that grow with devices and events. */
async function tableSizes(pool: pg.Pool) {
  return (
    await pool.query(
      `select c.relname t, pg_table_size(c.oid)::float8 heap, pg_indexes_size(c.oid)::float8 idx,
              (select count(*) from pg_index i where i.indrelid = c.oid)::int nidx
       from pg_class c where c.relname in ('devices', 'device_renders', 'device_last_seen', 'events') and c.relkind = 'r'`,
    )
  ).rows as { t: string; heap: number; idx: number; nidx: number }[];
}

/**
 * The steady state's one write per device: every connected device's lastSeen mark, flushed through the store in the
 * API's batches of 5,000. Twice: right after a checkpoint (every page's first change after a checkpoint writes a full
 * page image to WAL) and again (the cost between checkpoints). Returns ms and WAL bytes per device, each pass.
 */
async function lastSeenFlush(pool: pg.Pool) {
  const store = createDeviceStore(createDb(pool));
  const names = Array.from({ length: DEVICES }, (_, i) => `dev-${String(i + 1).padStart(6, "0")}`);
  const lsn = async () => (await pool.query("select pg_current_wal_lsn()::text l")).rows[0].l as string;
  const walSince = async (from: string) =>
    Number((await pool.query("select pg_wal_lsn_diff(pg_current_wal_lsn(), $1)::float8 d", [from])).rows[0].d);
  await pool.query("checkpoint");
  const passes: { ms: number; wal: number }[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const at = new Date();
    const from = await lsn();
    const t = performance.now();
    for (let i = 0; i < names.length; i += 5000)
      await store.recordLastSeen(names.slice(i, i + 5000).map((name) => ({ orgId: ORG, name, at })));
    passes.push({ ms: (performance.now() - t) / DEVICES, wal: (await walSince(from)) / DEVICES });
  }
  return passes;
}

/** Polls `check` every second until true; returns seconds since `since` (performance.now() ms). */
async function waitUntil(what: string, since: number, check: () => Promise<boolean>, timeoutS = 600): Promise<number> {
  let lastLog = performance.now();
  for (;;) {
    if (await check()) return (performance.now() - since) / 1000;
    if (performance.now() - since > timeoutS * 1000) throw new Error(`timed out waiting for ${what}`);
    if (performance.now() - lastLog > 15_000) {
      log(`  still waiting for ${what}`);
      lastLog = performance.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const template = (round: number) => ({
  spec: {
    os: { image: "quay.io/example/os:9.4" },
    config: [
      {
        name: "motd",
        inline: [{ path: "/etc/motd", content: `round ${round}: I am {{ .metadata.name }} at {{ .metadata.labels.site }}\n` }],
      },
      {
        name: "agent",
        inline: [{ path: "/etc/example/agent.conf", content: `region = "{{ .metadata.labels.region }}"\nround = ${round}\n` }],
      },
    ],
  },
});

async function main() {
  const db = await benchDatabase();
  mkdirSync(join(process.cwd(), ".data"), { recursive: true });
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-envelope-"));
  chmodSync(dataDir, 0o755);
  let worker: ReturnType<typeof spawn> | undefined;
  let api: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  const out: string[] = [];
  const row = (line: string) => {
    out.push(line);
    console.log(line);
  };
  try {
    log(
      `load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    await migrate(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const t0 = performance.now();
    await load(pool);
    const loadS = (performance.now() - t0) / 1000;
    const fresh = await tableSizes(pool);
    log(`loaded ${DEVICES.toLocaleString("en")} devices and ${EVENTS.toLocaleString("en")} events in ${loadS.toFixed(0)} s`);

    const server = await startServerProcess(db.url, dataDir, {}, ["--max-old-space-size=1024"]);
    api = server;
    worker = spawn(process.execPath, ["--import", "tsx", "server/main/worker.ts"], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        LOG_LEVEL: "warn",
        FLIGHTCTL_WORKER_CONCURRENCY: process.env.BENCH_WORKER_CONCURRENCY ?? "4",
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    const workerPid = worker.pid!;
    apiCpuMs = server.cpuMs;
    const transport = createGrpcTransport({
      baseUrl: `https://localhost:${server.port}`,
      nodeOptions: { ca: readFileSync(server.caPath) },
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", server.headers.authorization);
          return next(req);
        },
      ],
    });
    const devicesApi = createClient(DeviceService, transport);
    const fleetsApi = createClient(FleetService, transport);
    const putFleet = (round: number, extra: object = {}) =>
      fleetsApi.replaceFleet({
        name: FLEET,
        fleet: fromJson(FleetSchema, {
          apiVersion: "v1beta1",
          kind: "Fleet",
          metadata: { name: FLEET },
          spec: { selector: { matchLabels: { fleet: FLEET } }, template: template(round), ...extra },
        }),
      });
    const fleetTv = async () =>
      (
        await pool.query(`select annotations->>'fleet-controller/templateVersion' tv from fleets where org_id = $1 and name = $2`, [
          ORG,
          FLEET,
        ])
      ).rows[0]?.tv as string | undefined;
    const progress = async (tv: string) =>
      (
        await pool.query(
          `select count(*) filter (where annotations->>'fleet-controller/templateVersion' = $2)::int assigned,
                  count(*) filter (where annotations->>'fleet-controller/renderedTemplateVersion' = $2)::int rendered
           from devices where org_id = $1 and owner = 'Fleet/${FLEET}'`,
          [ORG, tv],
        )
      ).rows[0] as { assigned: number; rendered: number };

    /** A fleet write, timed until every device is assigned and rendered with the fleet's new template version. */
    async function rollout(what: string, round: number) {
      const before = await fleetTv();
      const cpu0 = { api: server.cpuMs(), worker: cpuMs(workerPid), machine: machineCpuMs(), pg: await backendsCpu(pool) };
      const t = performance.now();
      await putFleet(round);
      let tv = "";
      await waitUntil(`${what}: the new template version`, t, async () => {
        tv = (await fleetTv()) ?? "";
        return !!tv && tv !== before;
      });
      let assignedS = 0;
      const renderedS = await waitUntil(`${what}: every device rendered`, t, async () => {
        const p = await progress(tv);
        if (!assignedS && p.assigned >= DEVICES) assignedS = (performance.now() - t) / 1000;
        return p.rendered >= DEVICES;
      });
      const cpu = {
        api: server.cpuMs() - cpu0.api,
        worker: cpuMs(workerPid) - cpu0.worker,
        pg: backendsDelta(cpu0.pg, await backendsCpu(pool)),
        machine: machineCpuMs() - cpu0.machine,
      };
      const perDevice = (ms: number) => ((ms / DEVICES) * 1000).toFixed(0);
      log(
        `${what}: every spec assigned at ${assignedS.toFixed(1)} s, every device rendered at ${renderedS.toFixed(1)} s; ` +
          `CPU µs/device: api ${perDevice(cpu.api)}, worker ${perDevice(cpu.worker)}, Postgres backends ${perDevice(cpu.pg)} (whole machine, others' load included: ${perDevice(cpu.machine)})`,
      );
      return { assignedS, renderedS, cpu };
    }

    if (!SKIP_FLEET) log("creating the fleet over every device (the worker takes ownership and renders them all)");
    const adopt = SKIP_FLEET ? undefined : await rollout("fleet created", 1);

    // Lists: a sample is one page; the pages are walked with continue tokens, from the start again at the end.
    const listRows: [string, Stats, Stats][] = [];
    const cols = "name, labels, annotations, owner, generation, resource_version, created_at, deletion_timestamp, spec, status";
    async function listCase(label: string, labelSelector: string, fieldSelector: string, sqlWhere: string, params: unknown[]) {
      let token = "";
      const api1 = await measure(async () => {
        const page = await devicesApi.listDevices({ options: { labelSelector, fieldSelector, limit: 1000, continueToken: token } });
        token = page.metadata?.continueToken ?? "";
      });
      let after = "";
      const sql1 = await measure(async () => {
        const r = await pool.query(`select ${cols} from devices where org_id = $1 and ${sqlWhere} and name > $2 order by name limit 1001`, [
          ORG,
          after,
          ...params,
        ]);
        after = r.rows.length > 1000 ? r.rows[999].name : "";
      });
      listRows.push([label, api1, sql1]);
      log(
        `${label}: API p50 ${api1.p50.toFixed(1)} / p99 ${api1.p99.toFixed(1)} ms; SQL p50 ${sql1.p50.toFixed(1)} / p99 ${sql1.p99.toFixed(1)} ms`,
      );
    }
    await listCase("ListDevices, no selector", "", "", "true", []);
    await listCase("ListDevices, label selector `region=region-3` (10 %)", "region=region-3", "", "labels @> $3::jsonb", [
      JSON.stringify({ region: "region-3" }),
    ]);
    await listCase("ListDevices, label selector `site=site-42` (0.1 %)", "site=site-42", "", "labels @> $3::jsonb", [
      JSON.stringify({ site: "site-42" }),
    ]);
    await listCase(
      "ListDevices, field selector `status.summary.status=Degraded` (4 %)",
      "",
      "status.summary.status=Degraded",
      "(status->'summary'->>'status') = $3",
      ["Degraded"],
    );
    await listCase(
      "ListDevices, label and field selector `tier=core` + `status.applicationsSummary.status=Degraded` (10 %)",
      "tier=core",
      "status.applicationsSummary.status=Degraded",
      "labels @> $3::jsonb and (status->'applicationsSummary'->>'status') = $4",
      [JSON.stringify({ tier: "core" }), "Degraded"],
    );

    const groupBy = (extra: string, params: unknown[]) => () =>
      pool.query(
        `select status->'summary'->>'status' s, status->'updated'->>'status' u, status->'applicationsSummary'->>'status' a, count(*)
         from devices where org_id = $1 ${extra} group by grouping sets ((1), (2), (3))`,
        [ORG, ...params],
      );
    const summaryRows: [string, Stats, Stats | undefined][] = [];
    const summary = async (label: string, fn: () => Promise<unknown>, base?: () => Promise<unknown>) => {
      const a = await measure(fn);
      const b = base ? await measure(base) : undefined;
      summaryRows.push([label, a, b]);
      log(
        `${label}: p50 ${a.p50.toFixed(1)} / p99 ${a.p99.toFixed(1)} ms${b ? `; SQL p50 ${b.p50.toFixed(1)} / p99 ${b.p99.toFixed(1)} ms` : ""}`,
      );
    };
    await summary(
      "ListDevices summaryOnly, whole org (the overview page)",
      () => devicesApi.listDevices({ summaryOnly: true }),
      groupBy("", []),
    );
    await summary(
      "ListDevices summaryOnly, label selector `region=region-3`",
      () => devicesApi.listDevices({ summaryOnly: true, options: { labelSelector: "region=region-3" } }),
      groupBy("and labels @> $2::jsonb", [JSON.stringify({ region: "region-3" })]),
    );
    if (!SKIP_FLEET)
      await summary(
        "ListFleets addDevicesSummary (one fleet of every device)",
        () => fleetsApi.listFleets({ addDevicesSummary: true, options: { limit: 50 } }),
        groupBy("and owner = $2", [`Fleet/${FLEET}`]),
      );
    const name = (i: number) => `dev-${String(1 + ((i * 7919) % DEVICES)).padStart(6, "0")}`;
    await summary(
      "GetDevice",
      (() => {
        let i = 0;
        return () => devicesApi.getDevice({ name: name(i++) });
      })(),
      (() => {
        let i = 0;
        return () => pool.query(`select ${cols} from devices where org_id = $1 and name = $2`, [ORG, name(i++)]);
      })(),
    );
    const apiRss = rssMb(server.pid);

    const fleetRuns = SKIP_FLEET ? undefined : await fleetPhase();
    async function fleetPhase() {
      log("fleet template change (no policy)");
      const change = await rollout("template change", 2);

      // The dry run of a batched rollout: the fleet gets a policy (same template: no new render content).
      await fleetsApi.replaceFleet({
        name: FLEET,
        fleet: fromJson(FleetSchema, {
          apiVersion: "v1beta1",
          kind: "Fleet",
          metadata: { name: FLEET },
          spec: {
            selector: { matchLabels: { fleet: FLEET } },
            template: template(2),
            rolloutPolicy: {
              deviceSelection: {
                strategy: "BatchSequence",
                sequence: [{ limit: "1%" }, { selector: { matchLabels: { tier: "edge" } }, limit: "25%" }, { limit: "50%" }],
              },
              disruptionBudget: { groupBy: ["region"], maxUnavailable: 1000 },
            },
          },
        }),
      });
      await waitUntil("the fleet's selection to settle", performance.now(), async () => {
        const p = await fleetsApi.planFleetRollout({ name: FLEET });
        return !p.selectionPending;
      });
      const plan = await measure(() => fleetsApi.planFleetRollout({ name: FLEET }), Math.max(10, Math.floor(ITERATIONS / 5)));
      const planned = await fleetsApi.planFleetRollout({ name: FLEET });
      log(
        `PlanFleetRollout: p50 ${plan.p50.toFixed(0)} / p99 ${plan.p99.toFixed(0)} ms; ${planned.batches.length} batches, ${planned.budgetGroups.length} budget groups`,
      );

      return { change, plan };
    }

    // Database bytes (after the rollouts: each device row rewritten twice, renders and the rollouts' events added).
    await pool.query("vacuum analyze");
    const sizes = await tableSizes(pool);
    const eventCount = Number((await pool.query("select count(*) n from events")).rows[0].n);
    const dbBytes = Number((await pool.query("select pg_database_size(current_database()) n")).rows[0].n);
    const devIdx = (
      await pool.query(
        `select indexrelid::regclass::text i, pg_relation_size(indexrelid)::float8 b from pg_index where indrelid = 'devices'::regclass order by 2 desc`,
      )
    ).rows as { i: string; b: number }[];

    const seen = await lastSeenFlush(pool);
    log(`lastSeen flush: ${seen.map((p) => `${(p.ms * 1000).toFixed(1)} µs and ${p.wal.toFixed(0)} B WAL per device`).join("; then ")}`);

    // Baselines, same run.
    const countStar = await measure(() => pool.query("select count(*) from devices"));
    // pgbench select-only (2 clients, 10 s, scale 10) on a scratch database of the same server.
    const tps = pgbenchTps(process.env.DATABASE_URL ?? db.url, ["-S", "-c", "2", "-j", "2", "-T", "10"]);
    log("baselines done");

    const f = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
    console.log(
      `\n${DEVICES.toLocaleString("en")} devices and ${EVENTS.toLocaleString("en")} events loaded in ${loadS.toFixed(0)} s; ${ITERATIONS} sequential calls per row after ${WARMUP} warm-up (one client, TLS, gRPC); load average now ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
    row("| call (samples) | API p50 ms | API p99 ms | API CPU ms/call | SQL floor p50 ms | SQL floor p99 ms | p99 API/SQL |");
    row("|---|---|---|---|---|---|---|");
    for (const [label, a, b] of listRows)
      row(
        `| ${label}, limit 1000 (${a.n} pages) | ${f(a.p50)} | ${f(a.p99)} | ${f(a.apiCpu)} | ${f(b.p50)} | ${f(b.p99)} | ${(a.p99 / b.p99).toFixed(1)}× |`,
      );
    for (const [label, a, b] of summaryRows)
      row(
        `| ${label} (${a.n}) | ${f(a.p50)} | ${f(a.p99)} | ${f(a.apiCpu)} | ${b ? f(b.p50) : "—"} | ${b ? f(b.p99) : "—"} | ${b ? `${(a.p99 / b.p99).toFixed(1)}×` : ""} |`,
      );
    const plan = fleetRuns?.plan;
    if (plan)
      row(
        `| PlanFleetRollout, ${DEVICES.toLocaleString("en")} devices, 4 batches + budget by region (${plan.n}) | ${f(plan.p50)} | ${f(plan.p99)} | ${f(plan.apiCpu)} | — | — | |`,
      );
    console.log("");
    const us = (ms: number) => ((ms / DEVICES) * 1000).toFixed(0);
    row(
      "| fleet write | every spec assigned | every device rendered | renders/s | CPU µs/device: api / worker / Postgres backends | whole machine µs/device (others' load included) |",
    );
    row("|---|---|---|---|---|---|");
    for (const [label, r] of [
      ["fleet created over the devices (ownership + first render)", adopt],
      ["template change, no policy", fleetRuns?.change],
    ] as const)
      if (r)
        row(
          `| ${label} | ${r.assignedS.toFixed(1)} s | ${r.renderedS.toFixed(1)} s | ${(DEVICES / r.renderedS).toFixed(0)} | ${us(r.cpu.api)} / ${us(r.cpu.worker)} / ${us(r.cpu.pg)} | ${us(r.cpu.machine)} |`,
        );
    console.log("");
    row("| table | rows | heap + TOAST bytes/row | index bytes/row (indexes) | total MB | as loaded: heap / index bytes/row |");
    row("|---|---|---|---|---|---|");
    for (const s of sizes.sort((a, b) => a.t.localeCompare(b.t))) {
      const n = s.t === "events" ? eventCount : DEVICES;
      const f0 = fresh.find((x) => x.t === s.t)!;
      const n0 = s.t === "events" ? EVENTS : DEVICES;
      const asLoaded = f0.heap > 8192 ? `${(f0.heap / n0).toFixed(0)} / ${(f0.idx / n0).toFixed(0)}` : "(empty)";
      row(
        `| ${s.t} | ${n.toLocaleString("en")} | ${(s.heap / n).toFixed(0)} | ${(s.idx / n).toFixed(0)} (${s.nidx}) | ${((s.heap + s.idx) / 1048576).toFixed(0)} | ${asLoaded} |`,
      );
    }
    const perDevice = sizes.filter((s) => s.t !== "events").reduce((a, s) => a + s.heap + s.idx, 0) / DEVICES;
    row(`| whole database | | | | ${(dbBytes / 1048576).toFixed(0)} (${(perDevice / 1024).toFixed(1)} KiB per device without events) |`);
    console.log(`\ndevices indexes, bytes per device: ${devIdx.map((x) => `${x.i} ${(x.b / DEVICES).toFixed(0)}`).join(", ")}`);
    console.log(
      `lastSeen flush of every device (batches of 5,000, through the store): after a checkpoint ${(seen[0].ms * 1000).toFixed(1)} µs and ${seen[0].wal.toFixed(0)} B of WAL per device; again ${(seen[1].ms * 1000).toFixed(1)} µs and ${seen[1].wal.toFixed(0)} B`,
    );
    console.log(`API RSS after the lists: ${apiRss.toFixed(0)} MB`);
    console.log(
      `Baselines, same run: select count(*) from devices p50 ${f(countStar.p50)} / p99 ${f(countStar.p99)} ms; pgbench -S (2 clients, 10 s) ${tps.toFixed(0)} TPS`,
    );
    await pool.end();
  } finally {
    // Also when a step failed (e.g. Postgres out of connections): no API or worker outlives the bench.
    await api?.close();
    worker?.kill("SIGTERM");
    rmSync(dataDir, { recursive: true, force: true });
    await db.cleanup();
  }
}

await main();
