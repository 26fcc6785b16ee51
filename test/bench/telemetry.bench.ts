// npm run bench:telemetry — N simulated devices (BENCH_DEVICES, default 10,000) each export 30 series (hostmetrics-like:
// CPU time, memory, filesystem, network, disk, load, uptime) every BENCH_INTERVAL_S (60 s) over OTLP/HTTP protobuf,
// each on its own mTLS HTTP/2 connection with its own management certificate, through flightctl-telemetry-gateway run
// as its own process. The devices are split over BENCH_SENDERS (4) sender processes (telemetry-sender.ts; one
// process cannot make 10,000 TLS handshakes a minute on this machine), run at nice BENCH_SENDER_NICE (10) so that the
// load generator yields the CPU to the gateway it measures. Window 1, when every device connects, spreads
// the first sends over BENCH_CONNECT_S (180 s: the gateway's handshakes and certificate checks for 10,000 devices take
// more than one core-minute); the BENCH_WINDOWS − 1 (2) windows after it spread each device's sends over the interval.
// A real Prometheus scrapes the gateway's exposition every BENCH_SCRAPE_S (15 s).
//
// Measured: points/s accepted at that load (the windows after the first, whose connections are already open: the
// sustained rate; and all windows), export latency, gateway CPU per 1,000 points (/proc/<pid>/stat) and RSS, time from the first send
// until Prometheus sees every device (count(count by (device_id) (…)) == N). Then a flood: one window's requests sent
// back to back (BENCH_CONCURRENCY in flight) for the gateway's capacity. Same-run baselines: the same points, one
// WriteRequest per device, written by this process straight to a second Prometheus's remote-write receiver the same way
// (its points/s, its CPU per 1,000 points, time until it shows every device), and the same request bodies decoded by
// the raw generated code (fromBinary) with no server. Prints a markdown table for test/bench/RESULTS.md.
//
// Never hangs: every phase has a deadline (BENCH_PHASE_TIMEOUT_S) and a watchdog (BENCH_WATCHDOG_S) kills the children
// and exits; temp dirs and the scratch database are removed on every path.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fromBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { ExportMetricsServiceRequestSchema } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import { migrate } from "../../db/migrate.js";
import { deviceKind } from "../../server/devices/device-service.js";
import { createDb } from "../../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../../server/platform/identity.js";
import { ensurePki } from "../../server/platform/pki/ca.js";
import { kindStore } from "../../server/platform/resource/kind.js";
import { startPrometheus, type PrometheusServer } from "../helpers/prometheus-server.js";
import { benchDatabase, cpuMs, freePort } from "./server-process.js";
import { deviceName, otlpBody, PROBE, remoteWriteBody, SERIES } from "./telemetry-load.js";

const N = Number(process.env.BENCH_DEVICES ?? 10_000);
const INTERVAL_S = Number(process.env.BENCH_INTERVAL_S ?? 60);
const WINDOWS = Number(process.env.BENCH_WINDOWS ?? 3);
const SCRAPE_S = Number(process.env.BENCH_SCRAPE_S ?? 15);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const PHASE_TIMEOUT_S = Number(process.env.BENCH_PHASE_TIMEOUT_S ?? 600);
const WATCHDOG_S = Number(process.env.BENCH_WATCHDOG_S ?? 1800);
/** How long the exports still in flight after the last window may take. */
const DRAIN_S = Number(process.env.BENCH_DRAIN_S ?? 120);
/** An export not answered within this counts as failed (as an SDK exporter's timeout). */
const EXPORT_TIMEOUT_S = Number(process.env.BENCH_EXPORT_TIMEOUT_S ?? 30);
/** Sender processes the devices are split over. */
const SENDERS = Number(process.env.BENCH_SENDERS ?? 4);
/** Window 1 (every device's first connection) spreads its sends over this. */
const CONNECT_S = Number(process.env.BENCH_CONNECT_S ?? 180);
/** Niceness of the sender processes (0: as the gateway). */
const SENDER_NICE = Number(process.env.BENCH_SENDER_NICE ?? 10);

const children: ChildProcess[] = [];
const promPids: number[] = [];
const tempDirs: string[] = [];

/** Synchronous last resort (signal, watchdog): kill the children and remove their data before anything async runs. */
function killAll() {
  for (const c of children) c.kill("SIGKILL");
  for (const pid of promPids) {
    try {
      const tsdb = /--storage\.tsdb\.path=([^\0]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, "utf8"))?.[1];
      process.kill(pid, "SIGKILL");
      if (tsdb) rmSync(dirname(tsdb), { recursive: true, force: true });
    } catch {
      // already gone
    }
  }
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
const cleanups: (() => Promise<void> | void)[] = [];
const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** Resolves `p`, or throws naming the phase when it takes longer than the phase deadline. */
async function phase<T>(name: string, p: Promise<T>, seconds = PHASE_TIMEOUT_S): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`phase "${name}" did not finish within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resident set size of a process, MiB (Linux /proc). */
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return line ? Number(line.split(/\s+/)[1]) / 1024 : Number.NaN;
}

const quantile = (xs: number[], q: number) =>
  xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] : Number.NaN;

/** Polls `count(count by (device_id) (PROBE))` until it is N; resolves with the time it first was (performance.now()). */
async function untilAllVisible(prom: PrometheusServer, stop: { stopped: boolean }): Promise<number | undefined> {
  while (!stop.stopped) {
    const rows = await prom.query(`count(count by (device_id) (${PROBE}))`).catch(() => []);
    if ((rows[0]?.value ?? 0) >= N) return performance.now();
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

async function main() {
  const t0 = performance.now();
  const db = await benchDatabase();
  cleanups.push(() => db.cleanup());
  mkdirSync(join(process.cwd(), ".data"), { recursive: true });
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-telemetry-"));
  chmodSync(dataDir, 0o755);
  tempDirs.push(dataDir);
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  await migrate(db.url);
  await ensurePki(dataDir);

  // Devices in the store (the gateway lets in only enrolled devices), and a management certificate for each. One key
  // pair for all of them: the gateway checks the certificate, and a key per device would only cost the bench time.
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  cleanups.push(() => pool.end());
  const devices = kindStore(deviceKind, createDb(pool));
  const names = Array.from({ length: N }, (_, i) => deviceName(i));
  let tc = performance.now();
  let next = 0;
  await phase(
    "create devices",
    Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < N) {
          const name = names[next++];
          await devices.create(
            { orgId: DEFAULT_ORG_ID, name },
            { labels: {}, annotations: {}, owner: `Fleet/f${next % 10}`, generation: 1, spec: {}, status: {} },
            {
              reason: "ResourceCreated",
              type: "Normal",
              message: "bench",
              actor: "user:bench",
              involvedObject: { kind: "Device", name },
              sourceComponent: "bench",
            },
          );
        }
      }),
    ),
  );
  const createS = (performance.now() - tc) / 1000;
  log(`${N} devices created in ${createS.toFixed(1)} s`);
  // The gateway, as deployed: its own process.
  const [grpcPort, httpPort, promPort] = [await freePort(), await freePort(), await freePort()];
  const gw = spawn(process.execPath, ["--import", "tsx", "server/main/telemetry-gateway.ts"], {
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      FLIGHTCTL_DATA_DIR: dataDir,
      FLIGHTCTL_TELEMETRY_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
      FLIGHTCTL_TELEMETRY_HTTP_ADDRESS: `127.0.0.1:${httpPort}`,
      FLIGHTCTL_TELEMETRY_PROMETHEUS_ADDRESS: `127.0.0.1:${promPort}`,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  children.push(gw);
  const gwExited = new Promise<void>((r) => gw.once("exit", () => r()));
  cleanups.push(async () => {
    if (gw.exitCode === null && gw.signalCode === null) {
      gw.kill("SIGTERM");
      await Promise.race([gwExited, new Promise((r) => setTimeout(r, 5000))]);
      if (gw.exitCode === null && gw.signalCode === null) gw.kill("SIGKILL");
    }
  });
  await phase(
    "gateway start",
    (async () => {
      for (;;) {
        if (gw.exitCode !== null) throw new Error(`the gateway exited with ${gw.exitCode}`);
        const ok = await fetch(`http://127.0.0.1:${promPort}/metrics`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        await new Promise((r) => setTimeout(r, 200));
      }
    })(),
    60,
  );
  const gwPid = gw.pid!;
  const scraper = await startPrometheus({ targets: [`127.0.0.1:${promPort}`], scrapeIntervalMs: SCRAPE_S * 1000 });
  cleanups.push(() => scraper.close());
  const receiver = await startPrometheus({ remoteWriteReceiver: true });
  cleanups.push(() => receiver.close());
  // The watchdog kills these too, should their close() never come.
  promPids.push(promPid(scraper), promPid(receiver));

  // The senders: each signs its devices' certificates and makes their TLS contexts before the clock starts.
  type Msg = { type: string; [k: string]: unknown };
  type Waiter = { type: string; resolve: (m: Msg) => void };
  const senders: { child: ChildProcess; inbox: Msg[]; waiters: Waiter[] }[] = [];
  const per = Math.ceil(N / SENDERS);
  tc = performance.now();
  for (let k = 0; k < SENDERS && k * per < N; k++) {
    const job = { port: httpPort, dataDir, from: k * per, to: Math.min(N, (k + 1) * per), n: N, exportTimeoutS: EXPORT_TIMEOUT_S };
    // Niced: the senders stand for devices on other machines, and should not take the gateway's CPU on this one.
    const child = spawn("nice", ["-n", String(SENDER_NICE), process.execPath, "--import", "tsx", "test/bench/telemetry-sender.ts"], {
      env: { ...process.env, BENCH_SENDER_JOB: JSON.stringify(job) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    children.push(child);
    const sender = { child, inbox: [] as Msg[], waiters: [] as Waiter[] };
    child.on("message", (m: Msg) => {
      if (m.type === "window") return; // progress, logged below from the totals
      const w = sender.waiters.findIndex((x) => x.type === m.type);
      if (w >= 0) sender.waiters.splice(w, 1)[0].resolve(m);
      else sender.inbox.push(m);
    });
    child.once("exit", (code) => {
      if (code) log(`sender ${k} exited with ${code}`);
    });
    senders.push(sender);
  }
  cleanups.push(() => {
    for (const { child } of senders) if (child.connected) child.send({ type: "exit" });
  });
  /** The next message of `type` from every sender. */
  const fromAll = (type: string) =>
    Promise.all(
      senders.map(
        (sd) =>
          new Promise<Msg>((resolve, reject) => {
            const i = sd.inbox.findIndex((m) => m.type === type);
            if (i >= 0) return resolve(sd.inbox.splice(i, 1)[0]);
            sd.waiters.push({ type, resolve });
            sd.child.once("exit", (code) => reject(new Error(`a sender exited with ${code}`)));
          }),
      ),
    );
  const ready = await phase("senders ready (certificates, TLS contexts)", fromAll("ready"));
  const signS = Math.max(...ready.map((m) => m.signS as number));
  log(
    `${senders.length} senders ready in ${((performance.now() - tc) / 1000).toFixed(1)} s (certificates ${signS.toFixed(1)} s, TLS contexts ${Math.max(...ready.map((m) => m.contextsS as number)).toFixed(1)} s, slowest sender)`,
  );
  const statuses = new Map<string, number>();
  const addStatuses = (into: Map<string, number>, list: [string, number][]) => {
    for (const [k, v] of list) into.set(k, (into.get(k) ?? 0) + v);
  };

  // The scheduled windows: window 1 over CONNECT_S, then one every INTERVAL_S; device i sends (i/N) into each.
  const windowEnds = Array.from({ length: WINDOWS }, (_, w) => (CONNECT_S + w * INTERVAL_S) * 1000);
  const rss: number[] = [];
  const rssTimer = setInterval(() => rss.push(rssMiB(gwPid)), 1000);
  cleanups.push(() => clearInterval(rssTimer));
  const stopPoll = { stopped: false };
  const windowCpu: number[] = [cpuMs(gwPid)];
  const startAt = Date.now() + 2000;
  const start = performance.now() + 2000;
  for (const { child } of senders) child.send({ type: "go", startAt, connectS: CONNECT_S, intervalS: INTERVAL_S, windows: WINDOWS });
  await new Promise((r) => setTimeout(r, 2000));
  const visible = untilAllVisible(scraper, stopPoll);
  log(
    `sending: ${N} devices × ${SERIES} series every ${INTERVAL_S} s over ${senders.length} processes, window 1 over ${CONNECT_S} s, ${WINDOWS} windows`,
  );
  // Each sender's report at each window's end, logged once all have sent theirs.
  const progress: Msg[][] = Array.from({ length: WINDOWS }, () => []);
  for (const sd of senders) {
    sd.child.on("message", (m: Msg) => {
      if (m.type !== "window") return;
      const w = m.w as number;
      progress[w].push(m);
      if (progress[w].length < senders.length) return;
      const sum = (k: string) => progress[w].reduce((a, x) => a + (x[k] as number), 0);
      const st = new Map<string, number>();
      for (const x of progress[w]) addStatuses(st, x.statuses as [string, number][]);
      log(
        `senders at the end of window ${w + 1}: ${sum("answered")} of its exports answered, ${sum("inflight")} in flight, slowest sender ${(Math.max(...progress[w].map((x) => x.behindMs as number)) / 1000).toFixed(1)} s behind; answers so far: ${[...st].map(([k, v]) => `${k}: ${v}`).join(", ")}`,
      );
    });
  }
  const sentAll = fromAll("sent");
  await phase(
    "scheduled windows",
    (async () => {
      for (let w = 0; w < WINDOWS; w++) {
        const wait = start + windowEnds[w] - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        windowCpu.push(cpuMs(gwPid));
        log(`window ${w + 1}: gateway CPU ${(windowCpu[w + 1] - windowCpu[w]) / 1000} s, RSS ${rssMiB(gwPid).toFixed(0)} MiB`);
      }
    })(),
    CONNECT_S + WINDOWS * INTERVAL_S + 60,
  );
  // Senders still behind after the drain report what they have (the rest counts as unanswered).
  const sent = await phase("scheduled exports answered", sentAll, DRAIN_S + EXPORT_TIMEOUT_S).catch(async (e) => {
    log(`${(e as Error).message}: taking what the senders have`);
    // A sender that already answered has its "sent" taken; the others answer this at once.
    for (const sd of senders) if (sd.waiters.some((w) => w.type === "sent")) sd.child.send({ type: "report" });
    return sentAll;
  });
  const sendEnd = performance.now();
  const lat: number[][] = Array.from({ length: WINDOWS }, (_, w) => sent.flatMap((m) => (m.lat as number[][])[w]));
  const lag = sent.flatMap((m) => m.lag as number[]);
  /** Exports answered 200, per window. */
  const okPerWindow = Array.from({ length: WINDOWS }, (_, w) => sent.reduce((a, m) => a + (m.ok as number[])[w], 0));
  for (const m of sent) addStatuses(statuses, m.statuses as [string, number][]);
  log(`answers per window: ${lat.map((l) => l.length).join(", ")}; ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(", ")}`);
  const cpuScheduled = cpuMs(gwPid) - windowCpu[0];
  const visibleAt = await phase("all devices visible in Prometheus", visible, PHASE_TIMEOUT_S).catch((e) => {
    log(String(e));
    return undefined;
  });
  stopPoll.stopped = true;
  const okAnswers = statuses.get("200") ?? 0;
  const scheduledPoints = okAnswers * SERIES;
  const steadyCpu = windowCpu[WINDOWS] - windowCpu[1];
  const steadyPoints = okPerWindow.slice(1).reduce((a, b) => a + b, 0) * SERIES;
  const gwSeries = await fetch(`http://127.0.0.1:${promPort}/metrics`)
    .then((r) => r.text())
    .then((t) => Number(/^flightctl_telemetry_gateway_series (\S+)$/m.exec(t)?.[1] ?? Number.NaN));
  const schedStatuses = new Map(statuses);

  // Flood: one window's requests back to back, CONCURRENCY in flight in all, on the open connections.
  const floodStatuses = new Map<string, number>();
  const floodCpu0 = cpuMs(gwPid);
  const f0 = performance.now();
  for (const { child } of senders) child.send({ type: "flood", concurrency: Math.max(1, Math.round(CONCURRENCY / senders.length)) });
  for (const m of await phase("gateway flood", fromAll("flooded"))) addStatuses(floodStatuses, m.statuses as [string, number][]);
  const floodS = (performance.now() - f0) / 1000;
  const floodCpu = cpuMs(gwPid) - floodCpu0;
  const floodOk = (floodStatuses.get("200") ?? 0) * SERIES;
  const startNs = BigInt(Date.now()) * 1_000_000n;
  const bodies = names.map((name, i) => otlpBody(WINDOWS, i, name, startNs, INTERVAL_S));
  const rssEnd = rssMiB(gwPid);

  // Baseline 1: the raw generated decoder, no server.
  const d0 = process.cpuUsage();
  for (const b of bodies) fromBinary(ExportMetricsServiceRequestSchema, b);
  const du = process.cpuUsage(d0);
  const decodeCpuMs = (du.user + du.system) / 1000;

  // Baseline 2: the same points straight to Prometheus remote write, one WriteRequest per device, same concurrency.
  const rwBodies = names.map((name, i) => remoteWriteBody(WINDOWS, i, name, INTERVAL_S));
  const rwStatus = new Map<number | string, number>();
  const rwPid = promPid(receiver);
  const rwCpu0 = rwPid ? cpuMs(rwPid) : 0;
  let ri = 0;
  const r0 = performance.now();
  const rwStop = { stopped: false };
  const rwVisible = untilAllVisible(receiver, rwStop);
  await phase(
    "remote-write baseline",
    Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (ri < N) {
          const i = ri++;
          const res = await fetch(receiver.writeUrl, {
            method: "POST",
            headers: {
              "content-type": "application/x-protobuf",
              "content-encoding": "snappy",
              "x-prometheus-remote-write-version": "0.1.0",
            },
            body: rwBodies[i],
            signal: AbortSignal.timeout(30_000),
          }).then(
            async (r) => {
              await r.arrayBuffer();
              return r.status;
            },
            (e: Error) => `error: ${e.message}`,
          );
          rwStatus.set(res, (rwStatus.get(res) ?? 0) + 1);
        }
      }),
    ),
  );
  const rwS = (performance.now() - r0) / 1000;
  const rwCpu = rwPid ? cpuMs(rwPid) - rwCpu0 : Number.NaN;
  const rwVisibleAt = await phase("remote-write baseline visible", rwVisible, 120).catch(() => undefined);
  rwStop.stopped = true;
  const rwOk = ((rwStatus.get(204) ?? 0) + (rwStatus.get(200) ?? 0)) * SERIES;

  // Report.
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : "n/a");
  const scheduledS = (sendEnd - start) / 1000;
  const steadyS = ((WINDOWS - 1) * INTERVAL_S) as number;
  const cpuPerK = (cpu: number, pts: number) => (pts ? cpu / (pts / 1000) : Number.NaN);
  const fmtStatuses = (m: Map<string | number, number>) => [...m].map(([k, v]) => `${k}: ${v}`).join(", ");
  const allLat = lat.flat();
  const offered = (N * SERIES) / INTERVAL_S;
  const steadyOk = okPerWindow.slice(1).reduce((a, b) => a + b, 0);
  console.log(
    `\n${N} devices × ${SERIES} series every ${INTERVAL_S} s (offered ${f(offered)} points/s), window 1 (connections) over ${CONNECT_S} s then ${WINDOWS - 1} windows of ${INTERVAL_S} s; OTLP/HTTP protobuf over HTTP/2 + mTLS, one connection per device, ${senders.length} sender processes; gateway in its own process; Prometheus scraping every ${SCRAPE_S} s; load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`,
  );
  console.log(
    `setup: ${N} devices created in ${f(createS)} s; certificates signed in ${f(signS)} s (slowest of ${senders.length} senders)`,
  );
  console.log(
    `scheduled answers: ${fmtStatuses(schedStatuses)}; flood answers: ${fmtStatuses(floodStatuses)}; remote write answers: ${fmtStatuses(rwStatus)}`,
  );
  console.log(`answers per window: ${lat.map((l) => l.length).join(", ")}, of them 200: ${okPerWindow.join(", ")} (of ${N} each)`);
  console.log(`gateway series held after the windows: ${gwSeries} (expected ${N * SERIES})\n`);
  console.log("| measure | gateway | baseline | ratio (gateway / baseline) |");
  console.log("|---|---|---|---|");
  console.log(
    `| points/s sustained, windows 2–${WINDOWS} (connections open) | ${f((steadyOk * SERIES) / steadyS, 0)} (${steadyOk} of ${N * (WINDOWS - 1)} exports answered 200) | offered ${f(offered, 0)} | ${f((steadyOk * SERIES) / steadyS / offered, 2)} |`,
  );
  console.log(
    `| points/s accepted, all ${WINDOWS} windows (window 1: ${N} TLS handshakes over ${CONNECT_S} s) | ${f(scheduledPoints / scheduledS, 0)} | | |`,
  );
  console.log(
    `| export latency p50 / p99 ms, window 1 / later windows | ${f(quantile(lat[0], 0.5))} / ${f(quantile(lat[0], 0.99))}, ${f(quantile(lat.slice(1).flat(), 0.5))} / ${f(quantile(lat.slice(1).flat(), 0.99))} | | |`,
  );
  console.log(
    `| gateway CPU per 1,000 points, windows 2–${WINDOWS} (connections open; incl. exposition scrapes) | ${f(cpuPerK(steadyCpu, steadyPoints), 2)} ms (${f((steadyCpu / (steadyS * 1000)) * 100)}% of a core) | decode only (fromBinary, no server): ${f(cpuPerK(decodeCpuMs, N * SERIES), 2)} ms | ${f(cpuPerK(steadyCpu, steadyPoints) / cpuPerK(decodeCpuMs, N * SERIES))} |`,
  );
  console.log(
    `| gateway CPU in window 1 (${N} new connections: handshakes, certificate checks, device lookups, exports) | ${f((windowCpu[1] - windowCpu[0]) / 1000)} s over ${CONNECT_S} s (${f((windowCpu[1] - windowCpu[0]) / N, 2)} ms per device) | | |`,
  );
  console.log(`| gateway CPU per 1,000 points, all windows (incl. handshakes) | ${f(cpuPerK(cpuScheduled, scheduledPoints), 2)} ms | | |`);
  console.log(
    `| flood: points/s, one window's ${N} requests back to back, ${CONCURRENCY} in flight | ${f(floodOk / floodS, 0)} | Prometheus remote write, same points: ${f(rwOk / rwS, 0)} | ${f(floodOk / floodS / (rwOk / rwS), 2)} |`,
  );
  console.log(
    `| flood: CPU per 1,000 points | gateway ${f(cpuPerK(floodCpu, floodOk), 2)} ms | Prometheus receiver ${f(cpuPerK(rwCpu, rwOk), 2)} ms | ${f(cpuPerK(floodCpu, floodOk) / cpuPerK(rwCpu, rwOk), 2)} |`,
  );
  console.log(
    `| time from the first send until Prometheus shows all ${N} devices | ${visibleAt ? f((visibleAt - start) / 1000) : "not within the deadline"} s (window 1 ${CONNECT_S} s, scrape ${SCRAPE_S} s; ${visibleAt ? f((visibleAt - start) / 1000 - CONNECT_S) : "n/a"} s after the last device's first send) | remote write, from its first request: ${rwVisibleAt ? f((rwVisibleAt - r0) / 1000) : "n/a"} s | |`,
  );
  console.log(`| gateway RSS peak / at the end | ${f(Math.max(...rss), 0)} / ${f(rssEnd, 0)} MiB | | |`);
  console.log(`| sender lag behind schedule p99 (sender processes) | ${f(quantile(lag, 0.99))} ms | | |`);
  console.log(`\n(${allLat.length} scheduled exports; whole run ${f((performance.now() - t0) / 1000)} s)`);
}

/** The pid of a Prometheus started by the helper (found by its listen address). */
function promPid(prom: PrometheusServer): number {
  const port = new URL(prom.url).port;
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8");
      if (cmd.includes("prometheus") && cmd.includes(`127.0.0.1:${port}`)) return Number(d);
    } catch {
      // gone
    }
  }
  return 0;
}

async function cleanup() {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch (e) {
      log(`cleanup: ${(e as Error).message}`);
    }
  }
  cleanups.length = 0;
}

const watchdog = setTimeout(() => {
  log(`watchdog: the bench ran over ${WATCHDOG_S} s; stopping`);
  killAll();
  void Promise.race([cleanup(), new Promise((r) => setTimeout(r, 20_000))]).then(() => process.exit(2));
}, WATCHDOG_S * 1000);
watchdog.unref();

// Ctrl-C or a kill still stops the gateway and the Prometheus servers and removes the scratch data.
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    killAll();
    void Promise.race([cleanup(), new Promise((r) => setTimeout(r, 10_000))]).then(() => process.exit(130));
  });
}

main().then(
  async () => {
    await cleanup();
    clearTimeout(watchdog);
    process.exit(0);
  },
  async (e) => {
    console.error(e);
    await cleanup();
    clearTimeout(watchdog);
    process.exit(1);
  },
);
