// The load of the telemetry bench (test/bench/telemetry.bench.ts), shared by the bench and its sender processes
// (telemetry-sender.ts): the 30 points a simulated device sends, as an OTLP request and as the same samples in a
// Prometheus remote-write request, and an OTLP/HTTP sender holding one mTLS HTTP/2 connection per device.
import http2 from "node:http2";
import type { SecureContext } from "node:tls";
import { performance } from "node:perf_hooks";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { compress } from "snappyjs";
import { ExportMetricsServiceRequestSchema } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import type { KeyValue } from "../../gen/third_party/opentelemetry/proto/common/v1/common_pb.js";
import { AggregationTemporality, type MetricSchema } from "../../gen/third_party/opentelemetry/proto/metrics/v1/metrics_pb.js";
import { WriteRequestSchema } from "../../gen/third_party/prometheus/remote_pb.js";
import { DEFAULT_ORG_ID } from "../../server/platform/identity.js";

export const SERIES = 30;
/** The metric every device sends, used to count devices in Prometheus. */
export const PROBE = "system_memory_usage_bytes";
/** Device i's name. */
export const deviceName = (i: number) => `bench-${String(i).padStart(5, "0")}`;

const str = (key: string, value: string): KeyValue => ({ key, value: { value: { case: "stringValue", value } } }) as KeyValue;

type MetricInit = MessageInitShape<typeof ExportMetricsServiceRequestSchema>["resourceMetrics"] extends (infer R)[] | undefined ? R : never;

/** The 30 points one device sends at export `k` (values grow with k so counters stay monotonic). */
function devicePoints(
  k: number,
  i: number,
  intervalS: number,
): { name: string; unit: string; kind: "counter" | "gauge" | "updown"; attrs: Record<string, string>; value: number }[] {
  const pts: ReturnType<typeof devicePoints> = [];
  const t = (k + 1) * intervalS;
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
export function otlpBody(k: number, i: number, name: string, startNs: bigint, intervalS: number): Uint8Array {
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  const byMetric = new Map<string, { unit: string; kind: string; points: { attrs: Record<string, string>; value: number }[] }>();
  for (const p of devicePoints(k, i, intervalS)) {
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
    return { name: mname, unit: m.unit, data } as MessageInitShape<typeof MetricSchema>;
  });
  const rm: MetricInit = {
    resource: { attributes: [str("service.name", "flightctl-agent"), str("host.name", name)] },
    scopeMetrics: [{ scope: { name: "bench/hostmetrics" }, metrics }],
  };
  return toBinary(ExportMetricsServiceRequestSchema, create(ExportMetricsServiceRequestSchema, { resourceMetrics: [rm] }));
}

/** The same points as a remote-write request, labelled as the gateway would (names as its exposition shows them). */
export function remoteWriteBody(k: number, i: number, name: string, intervalS: number): Uint8Array<ArrayBuffer> {
  const ts = BigInt(Date.now());
  const timeseries = devicePoints(k, i, intervalS).map((p) => {
    const unit = p.unit === "s" ? "_seconds" : p.unit === "By" ? "_bytes" : "";
    const metric = `${p.name.replaceAll(".", "_")}${unit}${p.kind === "counter" ? "_total" : ""}`;
    const labels = Object.entries({ __name__: metric, device_id: name, org_id: DEFAULT_ORG_ID, ...p.attrs })
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([n, value]) => ({ name: n, value }));
    return { labels, samples: [{ value: p.value, timestamp: ts }] };
  });
  return new Uint8Array(compress(toBinary(WriteRequestSchema, create(WriteRequestSchema, { timeseries }))));
}

/**
 * OTLP/HTTP exports of devices `from`..`to` (exclusive) to the gateway at `port`, each device on its own HTTP/2
 * session with its own TLS context, opened at its first send and kept (as an exporter does). `statuses` counts the
 * answers by HTTP status, or by the error.
 */
export function createSender(port: number, from: number, contexts: SecureContext[], exportTimeoutS: number) {
  const sessions: (http2.ClientHttp2Session | undefined)[] = [];
  const statuses = new Map<string, number>();
  const session = (i: number) => {
    let s = sessions[i - from];
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(`https://localhost:${port}`, { secureContext: contexts[i - from], servername: "localhost" });
      s.on("error", () => {});
      sessions[i - from] = s;
    }
    return s;
  };
  /** POSTs one export of device i; resolves with its latency (ms) and whether it got a 200, counting the answer's status. */
  async function send(i: number, body: Uint8Array): Promise<{ ms: number; ok: boolean }> {
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
        timer = setTimeout(() => reject(new Error(`no answer within ${exportTimeoutS} s`)), exportTimeoutS * 1000);
      });
      status = String(await Promise.race([exchange, deadline]));
    } catch (e) {
      status = `error: ${(e as Error).message}`;
      if (req && !req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      clearTimeout(timer);
    }
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    return { ms: performance.now() - start, ok: status === "200" };
  }
  return {
    send,
    statuses,
    close() {
      for (const s of sessions) s?.destroy();
    },
  };
}
