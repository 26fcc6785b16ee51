// npm run bench:telemetry — N simulated devices (BENCH_DEVICES, default 10,000) each export 30 series (hostmetrics-like:
// CPU time, memory, filesystem, network, disk, load, uptime) every BENCH_INTERVAL_S (60 s) over OTLP/HTTP protobuf,
// each on its own mTLS HTTP/2 connection with its own management certificate, through flightctl-telemetry-gateway run
// as its own process; the devices' sends are spread uniformly over each interval, for BENCH_WINDOWS (3) intervals. A
// real Prometheus scrapes the gateway's exposition every BENCH_SCRAPE_S (15 s).
//
// Measured: points/s accepted at that load (all windows, and the windows after the first, whose connections are
// already open), export latency, gateway CPU per 1,000 points (/proc/<pid>/stat) and RSS, time from the first send
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
import http2 from "node:http2";
import { createSecureContext } from "node:tls";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import pg from "pg";
import { compress } from "snappyjs";
import { ExportMetricsServiceRequestSchema } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import type { KeyValue } from "../../gen/third_party/opentelemetry/proto/common/v1/common_pb.js";
import { AggregationTemporality } from "../../gen/third_party/opentelemetry/proto/metrics/v1/metrics_pb.js";
import { WriteRequestSchema } from "../../gen/third_party/prometheus/remote_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { migrate } from "../../db/migrate.js";
import { generateDeviceKey } from "../../lib/csr.js";
import { deviceKind } from "../../server/devices/device-service.js";
import { createDb } from "../../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../../server/platform/identity.js";
import { ensurePki } from "../../server/platform/pki/ca.js";
import { signClientCertificate } from "../../server/platform/pki/signer.js";
import { kindStore } from "../../server/platform/resource/kind.js";
import { startPrometheus, type PrometheusServer } from "../helpers/prometheus-server.js";
import { benchDatabase, cpuMs, freePort } from "./server-process.js";

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
const SERIES = 30;
/** The metric every device sends, used to count devices in Prometheus. */
const PROBE = "system_memory_usage_bytes";

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

const str = (key: string, value: string): KeyValue => ({ key, value: { value: { case: "stringValue", value } } }) as KeyValue;

type MetricInit = MessageInitShape<typeof ExportMetricsServiceRequestSchema>["resourceMetrics"] extends (infer R)[] | undefined ? R : never;

/** The 30 points one device sends at export `k` (values grow with k so counters stay monotonic). */
function devicePoints(
  k: number,
  i: number,
): { name: string; unit: string; kind: "counter" | "gauge" | "updown"; attrs: Record<string, string>; value: number }[] {
  const pts: ReturnType<typeof devicePoints> = [];
  const t = (k + 1) * INTERVAL_S;
  for (const cpu of ["cpu0", "cpu1"])
    for (const state of ["user", "system", "idle", "wait"])
      pts.push({
        name: "system.cpu.time",
        unit: "s",
        kind: "counter",
        attrs: { cpu, state },
        value: t * (state === "idle" ? 0.8 : 0.05) + (i % 7),
      });
  for (const state of ["used", "free", "cached", "buffered"])
    pts.push({ name: "system.memory.usage", unit: "By", kind: "updown", attrs: { state }, value: 1e9 + ((i * 7919 + k * 104729) % 1e8) });
  for (const mountpoint of ["/", "/var"])
    for (const state of ["used", "free", "reserved"])
      pts.push({ name: "system.filesystem.usage", unit: "By", kind: "updown", attrs: { mountpoint, state }, value: 5e9 + k * 4096 });
  for (const device of ["eth0", "lo"])
    for (const direction of ["receive", "transmit"])
      pts.push({ name: "system.network.io", unit: "By", kind: "counter", attrs: { device, direction }, value: t * 1000 + i });
  for (const device of ["sda", "sdb"])
    for (const direction of ["read", "write"])
      pts.push({ name: "system.disk.io", unit: "By", kind: "counter", attrs: { device, direction }, value: t * 5000 + i });
  for (const w of ["1m", "5m", "15m"])
    pts.push({ name: `system.cpu.load_average.${w}`, unit: "{thread}", kind: "gauge", attrs: {}, value: (i % 100) / 50 });
  pts.push({ name: "system.uptime", unit: "s", kind: "gauge", attrs: {}, value: t });
  return pts;
}

/** Device i's OTLP export number k, encoded (what an SDK exporter would send). */
function otlpBody(k: number, i: number, name: string, startNs: bigint): Uint8Array {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const byMetric = new Map<string, { unit: string; kind: string; points: { attrs: Record<string, string>; value: number }[] }>();
  for (const p of devicePoints(k, i)) {
    const m = byMetric.get(p.name) ?? { unit: p.unit, kind: p.kind, points: [] };
    m.points.push(p);
    byMetric.set(p.name, m);
  }
  const metrics = [...byMetric].map(([mname, m]) => {
    const dataPoints = m.points.map((p) => ({
      attributes: Object.entries(p.attrs).map(([key, v]) => str(key, v)),
      startTimeUnixNano: startNs,
      timeUnixNano: nowNs,
      value: { case: "asDouble" as const, value: p.value },
    }));
    const data =
      m.kind === "gauge"
        ? { case: "gauge" as const, value: { dataPoints } }
        : {
            case: "sum" as const,
            value: { dataPoints, aggregationTemporality: AggregationTemporality.CUMULATIVE, isMonotonic: m.kind === "counter" },
          };
    return { name: mname, unit: m.unit, data } as MessageInitShape<
      typeof import("../../gen/third_party/opentelemetry/proto/metrics/v1/metrics_pb.js").MetricSchema
    >;
  });
  const rm: MetricInit = {
    resource: { attributes: [str("service.name", "flightctl-agent"), str("host.name", name)] },
    scopeMetrics: [{ scope: { name: "bench/hostmetrics" }, metrics }],
  };
  return toBinary(ExportMetricsServiceRequestSchema, create(ExportMetricsServiceRequestSchema, { resourceMetrics: [rm] }));
}

/** The same points as a remote-write request, labelled as the gateway would (names as its exposition shows them). */
function remoteWriteBody(k: number, i: number, name: string): Uint8Array<ArrayBuffer> {
  const ts = BigInt(Date.now());
  const timeseries = devicePoints(k, i).map((p) => {
    const unit = p.unit === "s" ? "_seconds" : p.unit === "By" ? "_bytes" : "";
    const metric = `${p.name.replaceAll(".", "_")}${unit}${p.kind === "counter" ? "_total" : ""}`;
    const labels = Object.entries({ __name__: metric, device_id: name, org_id: DEFAULT_ORG_ID, ...p.attrs })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([n, value]) => ({ name: n, value }));
    return { labels, samples: [{ value: p.value, timestamp: ts }] };
  });
  return new Uint8Array(compress(toBinary(WriteRequestSchema, create(WriteRequestSchema, { timeseries }))));
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
  const pki = await ensurePki(dataDir);
  const ca = readFileSync(pki.bundlePath, "utf8");

  // Devices in the store (the gateway lets in only enrolled devices), and a management certificate for each. One key
  // pair for all of them: the gateway checks the certificate, and a key per device would only cost the bench time.
  const pool = new pg.Pool({ connectionString: db.url, max: 8 });
  cleanups.push(() => pool.end());
  const devices = kindStore(deviceKind, createDb(pool));
  const names = Array.from({ length: N }, (_, i) => `bench-${String(i).padStart(5, "0")}`);
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
  tc = performance.now();
  const keys = await generateDeviceKey();
  const certs: string[] = [];
  await phase(
    "sign certificates",
    (async () => {
      for (const name of names) {
        const { certPem } = await signClientCertificate(pki.clientSigner, {
          publicKey: keys.publicKey,
          commonName: `device:${name}`,
          signerName: "flightctl.io/device-enrollment",
          orgId: DEFAULT_ORG_ID,
          deviceFingerprint: name,
          validitySeconds: 6 * 3600,
        });
        certs.push(certPem);
      }
    })(),
  );
  const signS = (performance.now() - tc) / 1000;
  log(`${N} certificates signed in ${signS.toFixed(1)} s`);
  // Each device's TLS context made before the clock starts: parsing N keys and bundles is the bench's cost, not the gateway's.
  tc = performance.now();
  const contexts = certs.map((cert) => createSecureContext({ ca, cert, key: keys.keyPem }));
  log(`${N} TLS client contexts made in ${((performance.now() - tc) / 1000).toFixed(1)} s`);

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

  // One HTTP/2 session per device, opened at its first send (as an exporter does) and kept.
  const sessions: (http2.ClientHttp2Session | undefined)[] = new Array(N);
  cleanups.push(() => {
    for (const s of sessions) s?.destroy();
  });
  const session = (i: number) => {
    let s = sessions[i];
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(`https://localhost:${httpPort}`, { secureContext: contexts[i], servername: "localhost" });
      s.on("error", () => {});
      sessions[i] = s;
    }
    return s;
  };
  const statuses = new Map<string, number>();
  /** POSTs one export; resolves with its latency (ms), counting the answer's status. */
  async function send(i: number, body: Uint8Array): Promise<number> {
    const start = performance.now();
    let status = "error";
    // A hard deadline per export: a stream waiting on a connection that never completes its handshake fires no
    // stream timeout, and the bench must not wait on it forever.
    let timer: NodeJS.Timeout | undefined;
    let req: http2.ClientHttp2Stream | undefined;
    try {
      const exchange = (async () => {
        const r = session(i).request({ ":method": "POST", ":path": "/v1/metrics", "content-type": "application/x-protobuf" });
        req = r;
        const code = await new Promise<number>((resolve, reject) => {
          r.once("response", (h) => resolve(Number(h[":status"])));
          r.once("error", reject);
          r.once("close", () => reject(new Error("stream closed before a response")));
          r.end(body);
        });
        for await (const _ of r) {
          // drain the body (an ExportMetricsServiceResponse, or a google.rpc.Status)
        }
        return code;
      })();
      exchange.catch(() => {}); // the deadline may win; the stream's later failure is then nobody's to report
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${EXPORT_TIMEOUT_S} s`)), EXPORT_TIMEOUT_S * 1000);
      });
      status = String(await Promise.race([exchange, deadline]));
    } catch (e) {
      status = `error: ${(e as Error).message}`;
      if (req && !req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      clearTimeout(timer);
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    return performance.now() - start;
  }

  // The scheduled windows: device i sends at w·INTERVAL + (i/N)·INTERVAL.
  const startNs = BigInt(Date.now()) * 1_000_000n;
  const lat: number[][] = Array.from({ length: WINDOWS }, () => []);
  const lag: number[] = [];
  const rss: number[] = [];
  const rssTimer = setInterval(() => rss.push(rssMiB(gwPid)), 1000);
  cleanups.push(() => clearInterval(rssTimer));
  const stopPoll = { stopped: false };
  const windowCpu: number[] = [cpuMs(gwPid)];
  const windowAt: number[] = [];
  const start = performance.now();
  const visible = untilAllVisible(scraper, stopPoll);
  const inflight = new Set<Promise<void>>();
  log(`sending: ${N} devices × ${SERIES} series every ${INTERVAL_S} s, ${WINDOWS} windows`);
  await phase(
    "scheduled windows",
    (async () => {
      for (let w = 0; w < WINDOWS; w++) {
        const wStart = start + w * INTERVAL_S * 1000;
        windowAt.push(wStart);
        for (let i = 0; i < N; i++) {
          const due = wStart + (i / N) * INTERVAL_S * 1000;
          const wait = due - performance.now();
          if (wait > 1) await new Promise((r) => setTimeout(r, wait));
          lag.push(performance.now() - due);
          const p = send(i, otlpBody(w, i, names[i], startNs)).then((ms) => {
            lat[w].push(ms);
            inflight.delete(p);
          });
          inflight.add(p);
        }
        const wEnd = wStart + INTERVAL_S * 1000;
        if (performance.now() < wEnd) await new Promise((r) => setTimeout(r, wEnd - performance.now()));
        windowCpu.push(cpuMs(gwPid));
        log(
          `window ${w + 1}: ${lat[w].length} answered, ${inflight.size} in flight, gateway CPU ${(windowCpu[w + 1] - windowCpu[w]) / 1000} s; answers so far: ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(", ")}`,
        );
      }
      await Promise.all(inflight);
    })(),
    WINDOWS * INTERVAL_S + DRAIN_S,
  );
  const sendEnd = performance.now();
  const cpuScheduled = cpuMs(gwPid) - windowCpu[0];
  const visibleAt = await phase("all devices visible in Prometheus", visible, PHASE_TIMEOUT_S).catch((e) => {
    log(String(e));
    return undefined;
  });
  stopPoll.stopped = true;
  const okAnswers = statuses.get("200") ?? 0;
  const scheduledPoints = okAnswers * SERIES;
  const steadyCpu = windowCpu[WINDOWS] - windowCpu[1];
  const steadyPoints = lat.slice(1).reduce((s, l) => s + l.length, 0) * SERIES;
  const gwSeries = await fetch(`http://127.0.0.1:${promPort}/metrics`)
    .then((r) => r.text())
    .then((t) => Number(/^flightctl_telemetry_gateway_series (\S+)$/m.exec(t)?.[1] ?? Number.NaN));
  const schedStatuses = new Map(statuses);

  // Flood: one window's requests back to back, CONCURRENCY in flight, on the open connections.
  statuses.clear();
  const bodies = names.map((name, i) => otlpBody(WINDOWS, i, name, startNs));
  let fi = 0;
  const floodCpu0 = cpuMs(gwPid);
  const f0 = performance.now();
  await phase(
    "gateway flood",
    Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (fi < N) {
          const i = fi++;
          await send(i, bodies[i]);
        }
      }),
    ),
  );
  const floodS = (performance.now() - f0) / 1000;
  const floodCpu = cpuMs(gwPid) - floodCpu0;
  const floodOk = (statuses.get("200") ?? 0) * SERIES;
  const floodStatuses = new Map(statuses);
  const rssEnd = rssMiB(gwPid);

  // Baseline 1: the raw generated decoder, no server.
  const d0 = process.cpuUsage();
  for (const b of bodies) fromBinary(ExportMetricsServiceRequestSchema, b);
  const du = process.cpuUsage(d0);
  const decodeCpuMs = (du.user + du.system) / 1000;

  // Baseline 2: the same points straight to Prometheus remote write, one WriteRequest per device, same concurrency.
  const rwBodies = names.map((name, i) => remoteWriteBody(WINDOWS, i, name));
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
  console.log(
    `\n${N} devices × ${SERIES} series every ${INTERVAL_S} s (offered ${f((N * SERIES) / INTERVAL_S)} points/s), ${WINDOWS} windows; OTLP/HTTP protobuf over HTTP/2 + mTLS, one connection per device; gateway in its own process; Prometheus scraping every ${SCRAPE_S} s; load average at the end: ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`,
  );
  console.log(`setup: ${N} devices created in ${f(createS)} s, ${N} certificates signed in ${f(signS)} s (one process)`);
  console.log(
    `scheduled answers: ${fmtStatuses(schedStatuses)}; flood answers: ${fmtStatuses(floodStatuses)}; remote write answers: ${fmtStatuses(rwStatus)}`,
  );
  console.log(`gateway series held after the windows: ${gwSeries} (expected ${N * SERIES})\n`);
  console.log("| measure | gateway | baseline | ratio (gateway / baseline) |");
  console.log("|---|---|---|---|");
  console.log(
    `| points/s accepted at the offered load, all ${WINDOWS} windows (first includes ${N} TLS handshakes) | ${f(scheduledPoints / scheduledS, 0)} | offered ${f((N * SERIES) / INTERVAL_S, 0)} | ${f(scheduledPoints / scheduledS / ((N * SERIES) / INTERVAL_S), 2)} |`,
  );
  console.log(
    `| export latency p50 / p99 ms, window 1 / later windows | ${f(quantile(lat[0], 0.5))} / ${f(quantile(lat[0], 0.99))}, ${f(quantile(lat.slice(1).flat(), 0.5))} / ${f(quantile(lat.slice(1).flat(), 0.99))} | | |`,
  );
  console.log(
    `| gateway CPU per 1,000 points, windows 2–${WINDOWS} (connections open; incl. exposition scrapes) | ${f(cpuPerK(steadyCpu, steadyPoints), 2)} ms (${f((steadyCpu / (steadyS * 1000)) * 100)}% of a core) | decode only (fromBinary, no server): ${f(cpuPerK(decodeCpuMs, N * SERIES), 2)} ms | ${f(cpuPerK(steadyCpu, steadyPoints) / cpuPerK(decodeCpuMs, N * SERIES))} |`,
  );
  console.log(`| gateway CPU per 1,000 points, all windows (incl. handshakes) | ${f(cpuPerK(cpuScheduled, scheduledPoints), 2)} ms | | |`);
  console.log(
    `| flood: points/s, one window's ${N} requests back to back, ${CONCURRENCY} in flight | ${f(floodOk / floodS, 0)} | Prometheus remote write, same points: ${f(rwOk / rwS, 0)} | ${f(floodOk / floodS / (rwOk / rwS), 2)} |`,
  );
  console.log(
    `| flood: CPU per 1,000 points | gateway ${f(cpuPerK(floodCpu, floodOk), 2)} ms | Prometheus receiver ${f(cpuPerK(rwCpu, rwOk), 2)} ms | ${f(cpuPerK(floodCpu, floodOk) / cpuPerK(rwCpu, rwOk), 2)} |`,
  );
  console.log(
    `| time from the first send until Prometheus shows all ${N} devices | ${visibleAt ? f((visibleAt - start) / 1000) : "not within the deadline"} s (interval ${INTERVAL_S} s, scrape ${SCRAPE_S} s; ${visibleAt ? f((visibleAt - start) / 1000 - INTERVAL_S) : "n/a"} s after the last device's first send) | remote write, from its first request: ${rwVisibleAt ? f((rwVisibleAt - r0) / 1000) : "n/a"} s | |`,
  );
  console.log(`| gateway RSS peak / at the end | ${f(Math.max(...rss), 0)} / ${f(rssEnd, 0)} MiB | | |`);
  console.log(`| sender lag behind schedule p99 (bench process) | ${f(quantile(lag, 0.99))} ms | | |`);
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
