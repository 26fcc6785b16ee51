// MetricsService against a real Prometheus scraping a tiny /metrics endpoint that serves the series the gateway and
// the service would export: the device and fleet charts come back scoped to the caller's organization and the named
// resource (another organization's series under the same names never leak), names are matched exactly (escaped,
// never as a regex), and without a Prometheus the RPCs answer FailedPrecondition.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { type MetricSeriesList, MetricsService } from "../../gen/flightctl/v1beta1/metrics_service_pb.js";
import { startTestApp, type TestApp } from "../../test/helpers/app.js";
import { assertNoOpenHandles } from "../../test/helpers/leaks.js";
import { type PrometheusServer, startPrometheus } from "../../test/helpers/prometheus-server.js";
import { DEFAULT_ORG_ID } from "../platform/identity.js";
import { deviceQueries } from "./chart-metrics.js";
import { createPrometheusClient } from "./prometheus-client.js";

const OTHER_ORG = "7c1e6a52-0000-4000-8000-00000000beef";
const TRICKY = 'a"b\\.*}) or vector(1) #';

function exposition(): string {
  const dev = (org: string, name: string) => `org_id="${org}",device_id="${name.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  const lines: string[] = [];
  const device = (org: string, name: string, idle: [number, number], used: number, disks: number[]) => {
    lines.push(`system_cpu_utilization_ratio{${dev(org, name)},cpu="0",cpu_mode="idle"} ${idle[0]}`);
    lines.push(`system_cpu_utilization_ratio{${dev(org, name)},cpu="1",cpu_mode="idle"} ${idle[1]}`);
    lines.push(`system_cpu_utilization_ratio{${dev(org, name)},cpu="0",cpu_mode="user"} ${1 - idle[0]}`);
    lines.push(`system_memory_utilization_ratio{${dev(org, name)},system_memory_state="used"} ${used}`);
    lines.push(`system_memory_utilization_ratio{${dev(org, name)},system_memory_state="free"} ${1 - used}`);
    for (const [i, d] of disks.entries()) {
      lines.push(`system_filesystem_utilization_ratio{${dev(org, name)},mountpoint="/m${i}"} ${d}`);
    }
  };
  device(DEFAULT_ORG_ID, "dev-1", [0.75, 0.25], 0.4, [0.3, 0.8]);
  // Same device name in another organization: must never show up.
  device(OTHER_ORG, "dev-1", [0, 0], 0.99, [0.99]);
  // A name the "." of "dev.2" would match as a regex.
  device(DEFAULT_ORG_ID, "devx2", [0, 0], 0.9, [0.9]);
  // A device_id with quotes, backslash and regex characters, and its regex look-alike.
  device(DEFAULT_ORG_ID, TRICKY, [0.9, 0.9], 0.2, [0.2]);
  device(DEFAULT_ORG_ID, 'a"bX', [0, 0], 0.7, [0.7]);
  const fleet = (org: string, f: string, status: string, n: number) =>
    lines.push(`flightctl_devices_summary{organization_id="${org}",fleet="${f}",status="${status}"} ${n}`);
  fleet(DEFAULT_ORG_ID, "Fleet/shop", "Online", 3);
  fleet(DEFAULT_ORG_ID, "Fleet/shop", "Offline", 1);
  fleet(DEFAULT_ORG_ID, "Fleet/other", "Online", 50);
  fleet(OTHER_ORG, "Fleet/shop", "Online", 99);
  fleet(OTHER_ORG, "Fleet/shop", "Degraded", 7);
  return `${lines.join("\n")}\n`;
}

let target: Server;
let prom: PrometheusServer;
let t: TestApp;
let bare: TestApp;

before(async () => {
  target = createServer((_req, res) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(exposition()));
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  // Scrapes 5 s apart, each allowed 5 s: a scrape that fails (a 500 ms one did, with this process busy under CI's load)
  // makes Prometheus mark every series of the target stale, and the range queries below then find nothing at "now".
  prom = await startPrometheus({ targets: [`127.0.0.1:${(target.address() as AddressInfo).port}`], scrapeIntervalMs: 5000 });
  // Until the first scrape is in.
  await prom.waitFor("flightctl_devices_summary");
  t = await startTestApp({ prometheusUrl: prom.url });
  bare = await startTestApp();
  const devices = createClient(DeviceService, t.transport);
  for (const name of ["dev-1", "dev.2"]) {
    await devices.createDevice({ device: fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: {} }) });
  }
  const fleet = fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name: "shop" },
    spec: { selector: { matchLabels: { fleet: "shop" } }, template: { spec: {} } },
  });
  await createClient(FleetService, t.transport).createFleet({ fleet });
});

after(async () => {
  await t?.close();
  await bare?.close();
  await prom?.close();
  await new Promise((r) => target?.close(r));
  await assertNoOpenHandles();
});

const last = (list: MetricSeriesList, name: string) => {
  const s = list.series.find((x) => x.name === name);
  assert.ok(s, `series ${name} present`);
  return s.points.at(-1)?.value;
};

test("device metrics: CPU busy, memory used and the fullest disk of this organization's device only", async () => {
  const metrics = createClient(MetricsService, t.transport);
  const got = await metrics.getDeviceMetrics({ name: "dev-1" });
  assert.deepEqual(
    got.series.map((s) => [s.name, s.unit]),
    [
      ["cpu", "ratio"],
      ["memory", "ratio"],
      ["disk", "ratio"],
    ],
  );
  assert.equal(last(got, "cpu"), 0.5); // 1 − mean idle (0.75, 0.25); the other org's 1.0 is not mixed in
  assert.equal(last(got, "memory"), 0.4);
  assert.equal(last(got, "disk"), 0.8);
  for (const s of got.series) assert.ok(s.points.length > 0 && s.points.every((p) => p.value < 0.9), s.name);
  // The default range: the last hour, 60 steps.
  assert.equal(Number(got.endSeconds - got.startSeconds), 3600);
  assert.equal(got.stepSeconds, 60);
  const now = Date.now() / 1000;
  assert.ok(Math.abs(Number(got.endSeconds) - now) < 30);
  // An explicit range and step.
  const end = Math.floor(now);
  const fine = await metrics.getDeviceMetrics({
    name: "dev-1",
    range: { startSeconds: BigInt(end - 60), endSeconds: BigInt(end), stepSeconds: 5 },
  });
  assert.equal(fine.stepSeconds, 5);
  assert.ok(fine.series[0].points.every((p, i, a) => i === 0 || p.timeSeconds - a[i - 1].timeSeconds === 5n));
});

test("device metrics: the name is matched exactly, not as a pattern", async () => {
  const got = await createClient(MetricsService, t.transport).getDeviceMetrics({ name: "dev.2" });
  assert.deepEqual(
    got.series.map((s) => s.points.length),
    [0, 0, 0],
    "devx2's series are not dev.2's",
  );
});

test("device and fleet metrics: NotFound for a missing resource, InvalidArgument for a bad range", async () => {
  const metrics = createClient(MetricsService, t.transport);
  await assert.rejects(metrics.getDeviceMetrics({ name: "nope" }), (e) => ConnectError.from(e).code === Code.NotFound);
  await assert.rejects(metrics.getFleetMetrics({ name: "nope" }), (e) => ConnectError.from(e).code === Code.NotFound);
  await assert.rejects(metrics.getDeviceMetrics({ name: "" }), (e) => ConnectError.from(e).code === Code.InvalidArgument);
  await assert.rejects(
    metrics.getDeviceMetrics({ name: "dev-1", range: { startSeconds: 2000n, endSeconds: 1000n } }),
    (e) => ConnectError.from(e).code === Code.InvalidArgument && /range\.startSeconds/.test(ConnectError.from(e).rawMessage),
  );
  await assert.rejects(
    metrics.getDeviceMetrics({ name: "dev-1", range: { startSeconds: -5n } }),
    (e) => ConnectError.from(e).code === Code.InvalidArgument && /range\.startSeconds/.test(ConnectError.from(e).rawMessage),
  );
  await assert.rejects(
    metrics.getDeviceMetrics({ name: "dev-1", range: { startSeconds: 1n, endSeconds: 1_000_000n, stepSeconds: 1 } }),
    (e) => ConnectError.from(e).code === Code.InvalidArgument && /stepSeconds/.test(ConnectError.from(e).rawMessage),
  );
});

test("fleet metrics: device counts by status of this organization's fleet only", async () => {
  const got = await createClient(MetricsService, t.transport).getFleetMetrics({ name: "shop" });
  assert.deepEqual(
    got.series.map((s) => [s.name, s.unit, s.points.at(-1)?.value]),
    [
      ["Offline", "devices", 1],
      ["Online", "devices", 3],
    ],
  );
});

test("device_id values with quotes, backslashes and regex characters are escaped into an exact match", async () => {
  // Device names cannot hold these characters, so the RPC refuses them before querying; the query builder is
  // checked straight against Prometheus.
  const client = createPrometheusClient(prom.url);
  const end = Math.floor(Date.now() / 1000);
  const range = { start: end - 300, end, step: 15 };
  const [cpu, memory] = deviceQueries(DEFAULT_ORG_ID, TRICKY);
  const cpuRows = await client.queryRange(cpu.query, range);
  assert.equal(cpuRows.length, 1, "one series, no injected vector(1)");
  assert.ok(Math.abs((cpuRows[0].points.at(-1)?.v ?? 0) - 0.1) < 1e-9);
  assert.equal((await client.queryRange(memory.query, range))[0].points.at(-1)?.v, 0.2);
  const [lookAlike] = deviceQueries(DEFAULT_ORG_ID, 'a"b.*');
  assert.deepEqual(await client.queryRange(lookAlike.query, range), []);
});

test("without FLIGHTCTL_PROMETHEUS_URL both RPCs answer FailedPrecondition", async () => {
  const metrics = createClient(MetricsService, bare.transport);
  for (const call of [() => metrics.getDeviceMetrics({ name: "dev-1" }), () => metrics.getFleetMetrics({ name: "shop" })]) {
    await assert.rejects(call(), (e) => {
      const err = ConnectError.from(e);
      return err.code === Code.FailedPrecondition && /metrics are not configured/.test(err.rawMessage);
    });
  }
});
