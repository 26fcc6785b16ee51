// Agent telemetry end to end: a real in-process agent enrolled on a real API exports its host metrics and its own
// counters with the OpenTelemetry SDK to a real telemetry gateway, presenting its management certificate; a real
// Prometheus scrapes the gateway. The host CPU series appear labelled with the agent's device_id and org_id within two
// export intervals, and their values are the host's (/proc/stat). The web's chart RPC (MetricsService, reading that
// Prometheus) then answers the device's CPU, memory and disk: the names the charts query are the names the agent
// sends. The telemetry settings of config.yaml are checked too (off without an endpoint, errors naming the key).
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { stringify, parse } from "yaml";
import { X509Certificate } from "node:crypto";
import { createAgent, type Agent } from "../agent/agent.js";
import { loadIdentity } from "../agent/identity.js";
import { startSimulator } from "../agent/simulator.js";
import { CertificateSigningRequestService } from "../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js";
import { signClientCertificate } from "../server/platform/pki/signer.js";
import { parseAgentConfig } from "../agent/config.js";
import { cpuTicks, USER_HZ } from "../agent/host-readings.js";
import { recordingExecutor } from "../agent/host.js";
// Loaded with the file: agents import it only once telemetry is configured, and a module first loaded mid-test starts
// tsx's transform service, whose pipe the leak check would count.
import "../agent/telemetry.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { MetricsService } from "../gen/flightctl/v1beta1/metrics_service_pb.js";
import { createLogger } from "../lib/logger.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { ensurePki } from "../server/platform/pki/ca.js";
import { startTelemetryGateway, type RunningGateway } from "../server/telemetry/gateway.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { freePort } from "./helpers/ports.js";
import { startPrometheus, type PrometheusServer } from "./helpers/prometheus-server.js";

const INTERVAL_MS = 1000;
const SCRAPE_MS = 500;

let t: TestApi;
let admin: string;
let dir: string;
let gw: RunningGateway;
let prom: PrometheusServer;
let agent: Agent | undefined;
let pki: Awaited<ReturnType<typeof ensurePki>>;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });

before(async () => {
  // Prometheus first, scraping the gateway's exposition port before the gateway is up: the API reads the charts from it.
  const expositionPort = await freePort();
  prom = await startPrometheus({ targets: [`127.0.0.1:${expositionPort}`], scrapeIntervalMs: SCRAPE_MS });
  t = await startTestApi({ prometheusUrl: prom.url });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-agent-telemetry-"));
  // The API's PKI (the same data dir): the gateway verifies the devices' certificates with the service CA.
  pki = await ensurePki(t.dataDir);
  gw = await startTelemetryGateway({
    settings: {
      grpcAddress: "127.0.0.1:0",
      httpAddress: "127.0.0.1:0",
      prometheusAddress: `127.0.0.1:${expositionPort}`,
      staleAfterMs: 300_000,
      maxRequestBytes: 4 << 20,
      maxSeriesPerDevice: 2000,
      maxPointsPerDevicePerMinute: 0,
    },
    pool: t.db.pool,
    tls: { server: pki.agentServer, caBundlePem: readFileSync(pki.bundlePath, "utf8") },
    log: createLogger("test", "error"),
  });
  // Prometheus takes up new targets some seconds after it starts: the timing below is the agent's, not that.
  await waitFor("Prometheus scraping the gateway", async () => (await prom.query('up{job="test"} == 1')).length === 1);
});

after(async () => {
  await agent?.stop();
  await gw?.close();
  await prom?.close();
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

describe("config.yaml telemetry settings", () => {
  const base = () => parse(stringify({ "enrollment-service": { service: { server: "https://localhost:7443" } } }));
  const withTelemetry = (telemetry: unknown) => stringify({ ...base(), telemetry });

  test("off without an endpoint; the interval defaults to 60 s", () => {
    assert.equal(parseAgentConfig(stringify(base())).telemetry, undefined);
    assert.equal(parseAgentConfig(withTelemetry({ interval: "5s" })).telemetry, undefined);
    assert.deepEqual(parseAgentConfig(withTelemetry({ endpoint: "https://gw.example.com:4317" })).telemetry, {
      endpoint: "https://gw.example.com:4317",
      intervalMs: 60_000,
    });
  });

  test("bad values are refused naming the key", () => {
    assert.throws(() => parseAgentConfig(withTelemetry({ endpoint: "http://gw:4317" })), /telemetry\.endpoint: must be https:\/\//);
    assert.throws(() => parseAgentConfig(withTelemetry({ endpoint: "gw 4317" })), /telemetry\.endpoint: must be a URL/);
    assert.throws(
      () => parseAgentConfig(withTelemetry({ endpoint: "https://gw:4317", interval: "10x" })),
      /telemetry\.interval: must be a duration/,
    );
    assert.throws(
      () => parseAgentConfig(withTelemetry({ endpoint: "https://gw:4317", interval: "500ms" })),
      /telemetry\.interval: must be at least 1s/,
    );
    assert.throws(() => parseAgentConfig(withTelemetry("https://gw:4317")), /telemetry: must be a map/);
  });
});

test("a real agent's host CPU reaches Prometheus through the gateway, labelled with its device and organization", async () => {
  const root = join(dir, "root");
  mkdirSync(join(root, "proc/sys/kernel/random"), { recursive: true });
  writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), "boot-1\n");
  const yaml = parse(await agentConfigYaml(t, admin, join(dir, "data"), root));
  yaml.telemetry = { endpoint: `https://localhost:${gw.grpcPort}`, interval: `${INTERVAL_MS}ms` };
  yaml["cert-check-interval"] = "1s";
  const config = parseAgentConfig(stringify(yaml));
  assert.equal(config.telemetry?.intervalMs, INTERVAL_MS);

  const before = cpuTicks().get("cpu0")!.user / USER_HZ;
  agent = createAgent({
    config,
    log: pino({ level: "silent" }),
    exec: recordingExecutor(),
    appStatus: "recorded",
    console: { enabled: false },
    onEnrollmentRequested: async (n) => {
      await userClient(t, EnrollmentRequestService).approveEnrollmentRequest({ name: n, approval: { approved: true } }, auth());
    },
  });
  await agent.start();
  // Telemetry starts once the management certificate is in hand (start() returns right after).
  const started = Date.now();
  const name = agent.name;
  const query = `system_cpu_time_seconds_total{device_id="${name}",org_id="${DEFAULT_ORG_ID}",cpu="0",state="user"}`;
  const exposed = waitFor("the agent's CPU series on the gateway", async () => {
    const text = await (await fetch(`http://127.0.0.1:${gw.prometheusPort}/metrics`)).text();
    return text.includes(`device_id="${name}"`) && Date.now() - started;
  });
  const rows = await waitFor("the agent's CPU series in Prometheus", async () => {
    const r = await prom.query(query);
    return r.length > 0 && r;
  });
  const elapsed = Date.now() - started;
  console.log(`on the gateway after ${await exposed} ms`);
  console.log(`PromQL: ${query}\nanswer (${elapsed} ms after the agent started): ${JSON.stringify(rows)}`);
  // Two export intervals, plus one scrape interval for Prometheus to pick it up.
  assert.ok(elapsed <= 2 * INTERVAL_MS + SCRAPE_MS + 500, `visible after ${elapsed} ms`);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].metric.device_id, name);
  assert.equal(rows[0].metric.org_id, DEFAULT_ORG_ID);
  assert.equal(rows[0].metric.fleet, undefined, "the device is in no fleet");
  // The value is the host's: between what /proc/stat said before the agent started and what it says now.
  const nowUser = cpuTicks().get("cpu0")!.user / USER_HZ;
  assert.ok(rows[0].value >= before && rows[0].value <= nowUser, `${rows[0].value} not within [${before}, ${nowUser}]`);

  // Every CPU of the host and its states, one series each.
  const perCpu = await prom.query(`count by (cpu) (system_cpu_time_seconds_total{device_id="${name}"})`);
  const hostCpus = [...cpuTicks().keys()].filter((k) => k !== "cpu").map((k) => k.slice(3));
  assert.deepEqual(perCpu.map((r) => r.metric.cpu).sort(), hostCpus.sort());
  assert.ok(
    perCpu.every((r) => r.value === 8),
    "user, nice, system, idle, iowait, irq, softirq, steal",
  );

  // Memory, the device root's file system, network (loopback exists on every host) and the agent's own counters.
  const one = async (q: string) => {
    const r = await prom.query(q);
    assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
    return r[0].value;
  };
  const memTotal = Number(/MemTotal:\s+(\d+)/.exec(readFileSync("/proc/meminfo", "utf8"))![1]) * 1024;
  assert.equal(await one(`sum(system_memory_usage_bytes{device_id="${name}"})`), memTotal);
  const util = await one(`system_memory_utilization_ratio{device_id="${name}"}`);
  assert.ok(util > 0 && util < 1, String(util));
  assert.ok((await one(`system_filesystem_usage_bytes{device_id="${name}",mountpoint="/",state="used"}`)) > 0);
  assert.ok((await one(`system_network_io_bytes_total{device_id="${name}",device="lo",direction="receive"}`)) >= 0);
  const reports = await waitFor("a status report counted", async () => {
    const r = await prom.query(`flightctl_agent_status_reports_total{device_id="${name}"}`);
    return r.length === 1 && r[0].value >= 1 && r[0].value;
  });
  console.log(`flightctl_agent_status_reports_total{device_id="${name}"} = ${reports}`);
  const cpuUtil = await waitFor("CPU utilization (needs two readings)", async () => {
    const r = await prom.query(`system_cpu_utilization_ratio{device_id="${name}"}`);
    return r.length === 1 && r[0];
  });
  assert.ok(cpuUtil.value >= 0 && cpuUtil.value <= 1, String(cpuUtil.value));

  // The device page's charts (MetricsService.GetDeviceMetrics, the queries of server/charts/chart-metrics.ts) find
  // this agent's CPU, memory and disk series in Prometheus, with the values Prometheus holds.
  const charts = await waitFor("the device's CPU, memory and disk charts", async () => {
    const r = await userClient(t, MetricsService).getDeviceMetrics({ name }, auth());
    const by = Object.fromEntries(r.series.map((s) => [s.name, s.points]));
    return by.cpu?.length && by.memory?.length && by.disk?.length ? by : undefined;
  });
  const last = (k: string) => charts[k].at(-1)!.value;
  assert.ok(last("cpu") >= 0 && last("cpu") <= 1, `cpu ${last("cpu")}`);
  assert.ok(last("memory") > 0 && last("memory") < 1, `memory ${last("memory")}`);
  const diskUtil = await one(`system_filesystem_utilization_ratio{device_id="${name}",mountpoint="/"}`);
  assert.ok(last("disk") > 0 && last("disk") <= 1, `disk ${last("disk")}`);
  console.log(
    `GetDeviceMetrics(${name}): cpu ${last("cpu")}, memory ${last("memory")}, disk ${last("disk")} (Prometheus now: disk ${diskUtil})`,
  );
  // Another name gets no series of this device (the queries name the device exactly).
  await assert.rejects(userClient(t, MetricsService).getDeviceMetrics({ name: `${name}x` }, auth()), /not found/i);

  // Telemetry presents the device's own device-svc-client certificate, which it requested with a CSR.
  const certsDir = join(dir, "data", "certs");
  const telemetryCert = () => readFileSync(join(certsDir, "telemetry.crt"), "utf8");
  assert.equal(new X509Certificate(telemetryCert()).subject, `CN=otel-${name}`);
  const svcCsrs = async () =>
    (await userClient(t, CertificateSigningRequestService).listCertificateSigningRequests({}, auth())).items.filter(
      (c) => c.spec?.signerName === "flightctl.io/device-svc-client",
    );
  const [issued] = await svcCsrs();
  assert.equal(Buffer.from(issued.status?.certificate ?? "", "base64").toString("utf8"), telemetryCert());

  // A telemetry certificate due for renewal (75 % of its lifetime gone; here one put in its place) is replaced at the
  // next check by a newly requested one, and exports go on through the rebuilt exporter.
  const id = await loadIdentity(join(dir, "data"));
  const shortLived = await signClientCertificate(pki.clientSigner, {
    publicKey: (await id.keys()).publicKey,
    commonName: `otel-${name}`,
    signerName: "flightctl.io/device-svc-client",
    orgId: DEFAULT_ORG_ID,
    deviceFingerprint: name,
    validitySeconds: 4,
  });
  writeFileSync(join(certsDir, "telemetry.crt"), shortLived.certPem);
  await waitFor("a renewed telemetry certificate", async () => (await svcCsrs()).length === 2 && telemetryCert() !== shortLived.certPem);
  const renewed = new X509Certificate(telemetryCert());
  assert.equal(renewed.subject, `CN=otel-${name}`);
  assert.ok(new Date(renewed.validTo).getTime() > Date.now() + 3600_000);
  const okExports = async () =>
    (await prom.query('sum(flightctl_telemetry_gateway_requests_total{signal="metrics",code="ok"})'))[0]?.value ?? 0;
  const before2 = await okExports();
  await waitFor("exports accepted after the renewal", async () => (await okExports()) >= before2 + 2);

  // Stopping sends the last collection and closes the exporter: no handle is left (checked in after()).
  await agent.stop();
  agent = undefined;
});

test("simulated agents send telemetry when asked to, and not by default", async () => {
  const yaml = parse(await agentConfigYaml(t, admin, join(dir, "unused"), join(dir, "unused")));
  yaml.telemetry = { endpoint: `https://localhost:${gw.grpcPort}`, interval: `${INTERVAL_MS}ms` };
  const config = parseAgentConfig(stringify(yaml));
  const common = {
    config,
    approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: admin },
    log: pino({ level: "silent" }),
    summaryIntervalMs: 0,
  };
  await assert.rejects(
    startSimulator({ ...common, count: 1, baseDir: join(dir, "sim-x"), telemetry: true, config: { ...config, telemetry: undefined } }),
    /telemetry: .*no telemetry\.endpoint/,
  );
  const sending = await startSimulator({ ...common, count: 2, baseDir: join(dir, "sim-on"), telemetry: true });
  const quiet = await startSimulator({ ...common, count: 1, baseDir: join(dir, "sim-off") });
  try {
    await Promise.all([sending.started(), quiet.started()]);
    const started = Date.now();
    const names = sending.agents.map((a) => a.name);
    const query = `count by (device_id) (system_cpu_time_seconds_total{device_id=~"${names.join("|")}"})`;
    const rows = await waitFor("both simulated agents' CPU series", async () => {
      const r = await prom.query(query);
      return r.length === 2 && r;
    });
    console.log(`PromQL: ${query}\nanswer (${Date.now() - started} ms): ${JSON.stringify(rows)}`);
    // The quiet simulator's agent has had as long (and two more intervals) and sent nothing.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_MS));
    assert.deepEqual(await prom.query(`system_cpu_time_seconds_total{device_id="${quiet.agents[0].name}"}`), []);
  } finally {
    await sending.stop();
    await quiet.stop();
  }
});
