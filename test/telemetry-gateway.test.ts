// The telemetry gateway end to end over real sockets: a real OpenTelemetry SDK (gRPC and OTLP/HTTP protobuf
// exporters) presents a device's management certificate, a real Prometheus scrapes the gateway's exposition and a
// second one receives its remote write, and a plain OTLP/gRPC server receives what it forwards. Points carry the
// device_id, org_id and fleet the certificate and the device store say, whatever the payload claims; missing, enrollment,
// unknown-device and foreign-CA certificates, undecodable and oversized requests, and a device over its series or rate
// limit are refused with clear OTLP errors, counted, while other devices keep working.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import http2 from "node:http2";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { credentials } from "@grpc/grpc-js";
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { OTLPMetricExporter as GrpcMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { OTLPMetricExporter as ProtoMetricExporter } from "@opentelemetry/exporter-metrics-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  ExportMetricsServiceRequestSchema,
  type ExportMetricsServiceRequest,
  MetricsService,
} from "../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import {
  type ExportTraceServiceRequest,
  TraceService,
} from "../gen/third_party/opentelemetry/proto/collector/trace/v1/trace_service_pb.js";
import { StatusSchema } from "../gen/third_party/google/rpc/status_pb.js";
import { createLogger } from "../lib/logger.js";
import { generateDeviceKey } from "../lib/csr.js";
import { deviceKind } from "../server/devices/device-service.js";
import { createOrganizationStore } from "../server/organizations/organization-store.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { createCa, ensurePki, type KeyPair } from "../server/platform/pki/ca.js";
import { signClientCertificate } from "../server/platform/pki/signer.js";
import { kindStore } from "../server/platform/resource/kind.js";
import { startTelemetryGateway, type RunningGateway } from "../server/telemetry/gateway.js";
import { waitFor } from "./helpers/agents.js";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { startPrometheus, type PrometheusServer } from "./helpers/prometheus-server.js";

interface Cred {
  certPem: string;
  keyPem: string;
}

const MAX_REQUEST_BYTES = 256 * 1024;
const MAX_SERIES = 20;
const MAX_POINTS_PER_MINUTE = 1000;

let db: TestDatabase;
let dataDir: string;
let caBundle: string;
let gw: RunningGateway;
let scraper: PrometheusServer;
let receiver: PrometheusServer;
let upstream: http2.Http2Server;
const forwarded: ExportMetricsServiceRequest[] = [];
const forwardedTraces: ExportTraceServiceRequest[] = [];
let globex: string;
/** Management certificates: dev-a (fleet "edge"), dev-b and dev-d (no fleet), dev-c (organization globex). */
const creds: Record<string, Cred> = {};
let enrollment: Cred;
let unknown: Cred;
let foreign: Cred;
const sessions: Http2SessionManager[] = [];

async function sign(signer: KeyPair, name: string, signerName: string, orgId: string, commonName = `device:${name}`): Promise<Cred> {
  const keys = await generateDeviceKey();
  const { certPem } = await signClientCertificate(signer, {
    publicKey: keys.publicKey,
    commonName,
    signerName,
    orgId,
    deviceFingerprint: signerName === "flightctl.io/enrollment" ? undefined : name,
    validitySeconds: 3600,
  });
  return { certPem, keyPem: keys.keyPem };
}

before(async () => {
  db = await createTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), "fc-telemetry-"));
  const pki = await ensurePki(dataDir);
  caBundle = readFileSync(pki.bundlePath, "utf8");
  const appDb = createDb(db.pool);
  [{ id: globex }] = await createOrganizationStore(appDb).ensureExternal(["globex"]);
  const devices = kindStore(deviceKind, appDb);
  const event = (name: string) => ({
    reason: "ResourceCreated",
    type: "Normal" as const,
    message: "test",
    actor: "user:test",
    involvedObject: { kind: "Device", name },
    sourceComponent: "test",
  });
  const put = (orgId: string, name: string, owner: string | null) =>
    devices.create({ orgId, name }, { labels: {}, annotations: {}, owner, generation: 1, spec: {}, status: {} }, event(name));
  await put(DEFAULT_ORG_ID, "dev-a", "Fleet/edge");
  await put(DEFAULT_ORG_ID, "dev-b", null);
  await put(globex, "dev-c", null);
  await put(DEFAULT_ORG_ID, "dev-d", null);
  creds["dev-a"] = await sign(pki.clientSigner, "dev-a", "flightctl.io/device-enrollment", DEFAULT_ORG_ID);
  creds["dev-b"] = await sign(pki.clientSigner, "dev-b", "flightctl.io/device-management-renewal", DEFAULT_ORG_ID);
  creds["dev-c"] = await sign(pki.clientSigner, "dev-c", "flightctl.io/device-enrollment", globex);
  // A telemetry certificate the agent requests for itself (flightctl's "otel-<device>").
  creds["dev-d"] = await sign(pki.clientSigner, "dev-d", "flightctl.io/device-svc-client", DEFAULT_ORG_ID, "otel-dev-d");
  enrollment = await sign(pki.clientSigner, "x", "flightctl.io/enrollment", DEFAULT_ORG_ID, "client-enrollment-x");
  // dev-c exists only in globex: a certificate claiming it in the default organization names no device.
  unknown = await sign(pki.clientSigner, "dev-c", "flightctl.io/device-enrollment", DEFAULT_ORG_ID);
  foreign = await sign(await createCa("Somebody Else"), "dev-a", "flightctl.io/device-enrollment", DEFAULT_ORG_ID);

  // A plain OTLP/gRPC collector (h2c) the gateway forwards to.
  upstream = http2.createServer(
    connectNodeAdapter({
      routes(router) {
        router.service(MetricsService, {
          export(req) {
            forwarded.push(req);
            return {};
          },
        });
        router.service(TraceService, {
          export(req) {
            forwardedTraces.push(req);
            return {};
          },
        });
      },
    }),
  );
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const upstreamPort = (upstream.address() as { port: number }).port;

  receiver = await startPrometheus({ remoteWriteReceiver: true });
  gw = await startTelemetryGateway({
    settings: {
      grpcAddress: "127.0.0.1:0",
      httpAddress: "127.0.0.1:0",
      prometheusAddress: "127.0.0.1:0",
      staleAfterMs: 300_000,
      maxRequestBytes: MAX_REQUEST_BYTES,
      maxSeriesPerDevice: MAX_SERIES,
      maxPointsPerDevicePerMinute: MAX_POINTS_PER_MINUTE,
      forward: { endpoint: `http://127.0.0.1:${upstreamPort}` },
      remoteWrite: { url: receiver.writeUrl, intervalMs: 60_000 },
    },
    pool: db.pool,
    tls: { server: pki.agentServer, caBundlePem: caBundle },
    log: createLogger("test", "error"),
  });
  scraper = await startPrometheus({ targets: [`127.0.0.1:${gw.prometheusPort}`], scrapeIntervalMs: 500 });
});

after(async () => {
  for (const s of sessions) s.abort();
  await gw?.close();
  await scraper?.close();
  await receiver?.close();
  await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

/** A raw OTLP/gRPC client presenting `cred` (or no certificate). */
function otlp(cred?: Cred, port = gw.grpcPort) {
  const baseUrl = `https://localhost:${port}`;
  const sessionManager = new Http2SessionManager(baseUrl, {}, { ca: caBundle, ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}) });
  sessions.push(sessionManager);
  const transport = createGrpcTransport({ baseUrl, sessionManager });
  return { metrics: createClient(MetricsService, transport), traces: createClient(TraceService, transport) };
}

/** A gauge export: one point per entry of `points` (its attributes), value `value`. */
function gaugeExport(
  name: string,
  points: Record<string, string>[],
  value = 1,
  extra = "",
): MessageInitShape<typeof ExportMetricsServiceRequestSchema> {
  return {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: "device_id", value: { value: { case: "stringValue", value: "spoofed" } } }] },
        scopeMetrics: [
          {
            metrics: [
              {
                name,
                description: extra,
                data: {
                  case: "gauge",
                  value: {
                    dataPoints: points.map((attrs) => ({
                      attributes: Object.entries(attrs).map(([key, v]) => ({
                        key,
                        value: { value: { case: "stringValue" as const, value: v } },
                      })),
                      value: { case: "asDouble" as const, value },
                    })),
                  },
                },
              },
            ],
          },
        ],
      },
    ],
  };
}

/** POSTs an OTLP/HTTP request to `path` with `cred`'s certificate. */
async function postHttp(path: string, body: Buffer | string, contentType: string, cred?: Cred, port = gw.httpPort) {
  const session = http2.connect(`https://localhost:${port}`, {
    ca: caBundle,
    ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}),
  });
  try {
    const req = session.request({ ":method": "POST", ":path": path, "content-type": contentType });
    const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
      req.end(body);
    });
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return { status: Number(headers[":status"]), headers, body: Buffer.concat(chunks) };
  } finally {
    session.close();
  }
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => `${Code[ConnectError.from(e).code]}: ${ConnectError.from(e).rawMessage}`,
  );

/** The gateway's own metric `name{labels}` from its exposition (0 when absent). */
async function gatewayMetric(name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${gw.prometheusPort}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && want.every((w) => (m[2] ?? "").includes(w))) total += Number(m[3]);
  }
  return total;
}

describe("a real OpenTelemetry SDK through the gateway into a real Prometheus", () => {
  test("gRPC exporter, cumulative: points appear labelled with the certificate's device, organization and fleet; spoofed labels are overwritten", async () => {
    const exporter = new GrpcMetricExporter({
      url: `https://localhost:${gw.grpcPort}`,
      credentials: credentials.createSsl(Buffer.from(caBundle), Buffer.from(creds["dev-a"].keyPem), Buffer.from(creds["dev-a"].certPem)),
    });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ "service.name": "tgw-test", device_id: "someone-else", org_id: globex }),
      readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })],
    });
    try {
      const meter = provider.getMeter("tgw-test");
      meter
        .createCounter("tgw.requests", { unit: "{request}" })
        .add(3, { path: "/x", device_id: "spoofed", org_id: globex, fleet: "other" });
      meter.createHistogram("tgw.latency", { unit: "s" }).record(0.2, { path: "/x" });
      meter.createObservableGauge("tgw.temperature", { unit: "Cel" }).addCallback((r) => r.observe(41.5));
      await provider.forceFlush();
    } finally {
      await provider.shutdown();
    }
    const rows = await waitFor("tgw_requests_total in Prometheus", async () => {
      const r = await scraper.query('tgw_requests_total{path="/x"}');
      return r.length ? r : undefined;
    });
    assert.equal(rows.length, 1, "one series: the spoofed identity made no second one");
    assert.equal(rows[0].value, 3);
    assert.equal(rows[0].metric.device_id, "dev-a");
    assert.equal(rows[0].metric.org_id, DEFAULT_ORG_ID);
    assert.equal(rows[0].metric.fleet, "edge");
    const temp = await waitFor("the gauge", async () => (await scraper.query('tgw_temperature_celsius{device_id="dev-a"}'))[0]);
    assert.equal(temp.value, 41.5);
    const buckets = await scraper.query('tgw_latency_seconds_bucket{device_id="dev-a",le="+Inf"}');
    assert.equal(buckets[0]?.value, 1);

    // The forwarded export carries the same stamp on its resource and points.
    const fw = await waitFor("the forwarded export", async () =>
      forwarded.find((r) =>
        r.resourceMetrics.some((rm) => rm.scopeMetrics.some((sm) => sm.metrics.some((m) => m.name === "tgw.requests"))),
      ),
    );
    const attrs = Object.fromEntries(fw.resourceMetrics[0].resource!.attributes.map((a) => [a.key, a.value?.value.value]));
    assert.equal(attrs.device_id, "dev-a");
    assert.equal(attrs.org_id, DEFAULT_ORG_ID);
    assert.equal(attrs["service.name"], "tgw-test");

    // Remote write: the same series land in the receiving Prometheus.
    await gw.flushRemoteWrite();
    const written = await waitFor("remote-written series", async () => (await receiver.query('tgw_requests_total{device_id="dev-a"}'))[0]);
    assert.equal(written.value, 3);
    assert.equal(written.metric.org_id, DEFAULT_ORG_ID);
  });

  test("OTLP/HTTP protobuf exporter, delta temporality: the deltas add up to a cumulative counter", async () => {
    const exporter = new ProtoMetricExporter({
      url: `https://localhost:${gw.httpPort}/v1/metrics`,
      temporalityPreference: AggregationTemporality.DELTA,
      httpAgentOptions: { ca: caBundle, cert: creds["dev-b"].certPem, key: creds["dev-b"].keyPem },
    });
    const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })] });
    try {
      const counter = provider.getMeter("tgw-test").createCounter("tgw.bytes.sent", { unit: "By" });
      counter.add(2, { iface: "eth0" });
      await provider.forceFlush();
      counter.add(5, { iface: "eth0" });
      await provider.forceFlush();
    } finally {
      await provider.shutdown();
    }
    const row = await waitFor("the accumulated delta counter", async () => {
      // The unit is already a word of the name: no second "_bytes".
      const r = await scraper.query('tgw_bytes_sent_total{device_id="dev-b"}');
      return r[0]?.value === 7 ? r[0] : undefined;
    });
    assert.equal(row.metric.iface, "eth0");
    assert.equal(row.metric.fleet, undefined, "a device no fleet owns has no fleet label");
  });

  test("OTLP/HTTP JSON from another organization's device: its own org_id, never the default organization's series", async () => {
    const doc = {
      resourceMetrics: [
        {
          resource: { attributes: [{ key: "org_id", value: { stringValue: DEFAULT_ORG_ID } }] },
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "tgw.json.gauge",
                  gauge: {
                    dataPoints: [
                      {
                        attributes: [{ key: "device_id", value: { stringValue: "dev-a" } }],
                        asInt: "12",
                        timeUnixNano: String(Date.now() * 1e6),
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postHttp("/v1/metrics", JSON.stringify(doc), "application/json", creds["dev-c"]);
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.headers["content-type"], "application/json");
    const rows = await waitFor("the JSON gauge", async () => {
      const r = await scraper.query("tgw_json_gauge");
      return r.length ? r : undefined;
    });
    assert.deepEqual(
      rows.map((r) => [r.metric.device_id, r.metric.org_id, r.value]),
      [["dev-c", globex, 12]],
    );
  });

  test("traces are accepted over both protocols, stamped with the certificate's device whatever the payload claims, and forwarded", async () => {
    const str = (key: string, value: string) => ({ key, value: { value: { case: "stringValue" as const, value } } });
    // The payload claims another device, another organization and a fleet, on the resource and on the span.
    const spoof = [str("device_id", "dev-b"), str("org_id", globex), str("fleet", "not-mine")];
    const ok = await otlp(creds["dev-a"]).traces.export({
      resourceSpans: [
        {
          resource: { attributes: [...spoof, str("service.name", "boot-svc")] },
          scopeSpans: [
            { spans: [{ name: "boot", traceId: new Uint8Array(16).fill(1), spanId: new Uint8Array(8).fill(2), attributes: spoof }] },
          ],
        },
      ],
    });
    assert.equal(ok.partialSuccess, undefined);
    const json = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: "device_id", value: { stringValue: "dev-c" } }] },
          scopeSpans: [
            {
              spans: [
                {
                  name: "boot",
                  traceId: "0102030405060708090a0b0c0d0e0f10",
                  spanId: "0102030405060708",
                  attributes: [{ key: "org_id", value: { stringValue: globex } }],
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postHttp("/v1/traces", JSON.stringify(json), "application/json", creds["dev-a"]);
    assert.equal(res.status, 200, res.body.toString());
    assert.ok((await gatewayMetric("flightctl_telemetry_gateway_points_total", { signal: "traces", result: "accepted" })) >= 2);
    const attrs = (kvs: { key: string; value?: { value: { value?: unknown } } }[]) =>
      Object.fromEntries(kvs.map((a) => [a.key, a.value?.value.value]));
    const identity = { device_id: "dev-a", org_id: DEFAULT_ORG_ID, fleet: "edge" };
    // gRPC: the spoofed attributes replaced on the resource and the span, the others kept.
    const fromGrpc = await waitFor("the forwarded gRPC trace export", async () =>
      forwardedTraces.find((r) => Buffer.from(r.resourceSpans[0].scopeSpans[0].spans[0].traceId).toString("hex") === "01".repeat(16)),
    );
    assert.deepEqual(attrs(fromGrpc.resourceSpans[0].resource!.attributes), { ...identity, "service.name": "boot-svc" });
    assert.deepEqual(attrs(fromGrpc.resourceSpans[0].scopeSpans[0].spans[0].attributes), identity);
    // OTLP/HTTP JSON: the hex ids read as bytes, the claimed device and organization replaced.
    const fromJsonExport = await waitFor("the forwarded JSON trace export", async () =>
      forwardedTraces.find(
        (r) => Buffer.from(r.resourceSpans[0].scopeSpans[0].spans[0].traceId).toString("hex") === "0102030405060708090a0b0c0d0e0f10",
      ),
    );
    const span = fromJsonExport.resourceSpans[0].scopeSpans[0].spans[0];
    assert.equal(Buffer.from(span.spanId).toString("hex"), "0102030405060708");
    assert.deepEqual(attrs(span.attributes), identity);
    assert.deepEqual(attrs(fromJsonExport.resourceSpans[0].resource!.attributes), identity);
    // Nothing forwarded speaks for the device the payloads claimed.
    assert.ok(forwardedTraces.every((r) => attrs(r.resourceSpans[0].resource!.attributes).device_id !== "dev-c"));
  });

  test("with no OTLP collector to forward to, traces are answered with a partial success naming the setting", async () => {
    const second = await startTelemetryGateway({
      settings: {
        grpcAddress: "127.0.0.1:0",
        httpAddress: "127.0.0.1:0",
        staleAfterMs: 300_000,
        maxRequestBytes: MAX_REQUEST_BYTES,
        maxSeriesPerDevice: MAX_SERIES,
        maxPointsPerDevicePerMinute: MAX_POINTS_PER_MINUTE,
      },
      pool: db.pool,
      tls: { server: (await ensurePki(dataDir)).agentServer, caBundlePem: caBundle },
      log: createLogger("test", "error"),
    });
    try {
      const span = { name: "s", traceId: new Uint8Array(16).fill(7), spanId: new Uint8Array(8).fill(7) };
      const r = await otlp(creds["dev-a"], second.grpcPort).traces.export({ resourceSpans: [{ scopeSpans: [{ spans: [span, span] }] }] });
      assert.equal(r.partialSuccess?.rejectedSpans, 2n);
      assert.match(r.partialSuccess?.errorMessage ?? "", /no OTLP collector to forward traces to \(FLIGHTCTL_TELEMETRY_FORWARD_ENDPOINT/);
      const json = { resourceSpans: [{ scopeSpans: [{ spans: [{ name: "s", traceId: "07".repeat(16), spanId: "07".repeat(8) }] }] }] };
      const res = await postHttp("/v1/traces", JSON.stringify(json), "application/json", creds["dev-a"], second.httpPort);
      assert.equal(res.status, 200, res.body.toString());
      const body = JSON.parse(res.body.toString());
      assert.equal(body.partialSuccess.rejectedSpans, "1");
      assert.match(body.partialSuccess.errorMessage, /FLIGHTCTL_TELEMETRY_FORWARD_ENDPOINT/);
      // The identity rules hold as on any gateway: no certificate, no answer about traces.
      assert.match(await failure(otlp(undefined, second.grpcPort).traces.export({})), /^Unauthenticated/);
    } finally {
      await second.close();
    }
  });
});

describe("refused with a clear OTLP status, counted, others unaffected", () => {
  test("no client certificate, an enrollment certificate, an unknown device, a foreign CA", async () => {
    const req = gaugeExport("tgw.refused", [{}]);
    assert.match(await failure(otlp().metrics.export(req)), /^Unauthenticated: a client certificate is required on the telemetry gateway/);
    assert.match(await failure(otlp(enrollment).metrics.export(req)), /^PermissionDenied: an enrollment certificate cannot send telemetry/);
    assert.match(await failure(otlp(unknown).metrics.export(req)), /^PermissionDenied: device "dev-c" is not enrolled in organization/);
    assert.match(await failure(otlp(foreign).metrics.export(req)), /^Unauthenticated: the client certificate was not accepted/);
    const body = Buffer.from(toBinary(ExportMetricsServiceRequestSchema, create(ExportMetricsServiceRequestSchema, req)));
    const noCert = await postHttp("/v1/metrics", body, "application/x-protobuf");
    assert.equal(noCert.status, 401);
    assert.match(fromBinary(StatusSchema, noCert.body).message, /client certificate is required/);
    const enroll = await postHttp("/v1/metrics", body, "application/x-protobuf", enrollment);
    assert.equal(enroll.status, 403);
    assert.equal(fromBinary(StatusSchema, enroll.body).code, Code.PermissionDenied);
    assert.deepEqual(await scraper.query("tgw_refused"), []);
    assert.ok((await gatewayMetric("flightctl_telemetry_gateway_refused_total", { reason: "unauthenticated" })) >= 3);
    assert.ok((await gatewayMetric("flightctl_telemetry_gateway_refused_total", { reason: "forbidden" })) >= 3);
  });

  test("malformed protobuf: InvalidArgument (gRPC) and 400 with a google.rpc.Status (HTTP)", async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const res = await postHttp("/v1/metrics", garbage, "application/x-protobuf", creds["dev-a"]);
    assert.equal(res.status, 400);
    const status = fromBinary(StatusSchema, res.body);
    assert.equal(status.code, Code.InvalidArgument);
    assert.match(status.message, /cannot decode the request as an OTLP ExportMetricsServiceRequest \(protobuf\)/);
    const badJson = await postHttp("/v1/metrics", '{"resourceMetrics": 7}', "application/json", creds["dev-a"]);
    assert.equal(badJson.status, 400);
    assert.match(JSON.parse(badJson.body.toString()).message, /cannot decode the request .*\(JSON\)/);

    // gRPC: one length-prefixed message that is not an ExportMetricsServiceRequest.
    const session = http2.connect(`https://localhost:${gw.grpcPort}`, {
      ca: caBundle,
      cert: creds["dev-a"].certPem,
      key: creds["dev-a"].keyPem,
    });
    try {
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);
      const stream = session.request({
        ":method": "POST",
        ":path": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        "content-type": "application/grpc",
        te: "trailers",
      });
      const trailers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        let headers: http2.IncomingHttpHeaders = {};
        stream.once("response", (h) => (headers = h));
        stream.once("trailers", resolve);
        stream.once("end", () => resolve(headers)); // a trailers-only answer has the status in its headers
        stream.once("error", reject);
        stream.resume();
        stream.end(frame);
      });
      assert.equal(trailers["grpc-status"], String(Code.InvalidArgument));
      assert.match(decodeURIComponent(String(trailers["grpc-message"])), /cannot decode the request/);
    } finally {
      session.close();
    }
    assert.ok((await gatewayMetric("flightctl_telemetry_gateway_refused_total", { reason: "malformed" })) >= 3);
  });

  test("what would break the scrape for every device: a NUL in a label value (HTTP JSON) is refused naming the field; an le attribute on a histogram is renamed", async () => {
    const doc = {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "tgw.bad",
                  gauge: { dataPoints: [{ attributes: [{ key: "k", value: { stringValue: "a\u0000b" } }], asDouble: 1 }] },
                },
              ],
            },
          ],
        },
      ],
    };
    const res = await postHttp("/v1/metrics", JSON.stringify(doc), "application/json", creds["dev-a"]);
    assert.equal(res.status, 400);
    assert.match(
      JSON.parse(res.body.toString()).message,
      /resourceMetrics\[0\]\.scopeMetrics\[0\]\.metrics\[0\]\.gauge\.dataPoints\[0\]\.attributes\[0\]\.value\.stringValue: must not contain NUL/,
    );
    await otlp(creds["dev-a"]).metrics.export({
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "tgw.le.hist",
                  data: {
                    case: "histogram",
                    value: {
                      aggregationTemporality: 2,
                      dataPoints: [
                        {
                          attributes: [{ key: "le", value: { value: { case: "stringValue", value: "spoof" } } }],
                          count: 1n,
                          sum: 1,
                          explicitBounds: [1],
                          bucketCounts: [1n, 0n],
                        },
                      ],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
    });
    const row = await waitFor(
      "the histogram with its le attribute renamed",
      async () => (await scraper.query('tgw_le_hist_count{exported_le="spoof"}'))[0],
    );
    assert.equal(row.value, 1);
    assert.equal((await scraper.query("up"))[0]?.value, 1, "the scrape still succeeds");
  });

  test("an oversized request: ResourceExhausted (gRPC) and 413 (HTTP)", async () => {
    const big = gaugeExport("tgw.big", [{ blob: "x".repeat(MAX_REQUEST_BYTES + 1) }]);
    assert.match(
      await failure(otlp(creds["dev-a"]).metrics.export(big)),
      /^ResourceExhausted: message size .*larger than configured readMaxBytes/,
    );
    const body = Buffer.from(toBinary(ExportMetricsServiceRequestSchema, create(ExportMetricsServiceRequestSchema, big)));
    const res = await postHttp("/v1/metrics", body, "application/x-protobuf", creds["dev-a"]);
    assert.equal(res.status, 413);
    assert.match(fromBinary(StatusSchema, res.body).message, new RegExp(`limit (is|of) ${MAX_REQUEST_BYTES}`));
    assert.ok((await gatewayMetric("flightctl_telemetry_gateway_refused_total", { reason: "request_too_large" })) >= 2);
    // The connection and the device are fine afterwards.
    assert.equal(await failure(otlp(creds["dev-a"]).metrics.export(gaugeExport("tgw.after.big", [{}]))), "ok");
  });

  test("the series limit: new series over it are refused (partial success), held ones and other devices keep updating", async () => {
    const many = (value: number) =>
      gaugeExport(
        "tgw.many",
        Array.from({ length: MAX_SERIES + 10 }, (_, i) => ({ n: String(i) })),
        value,
      );
    // dev-d sends with its device-svc-client certificate.
    const first = await otlp(creds["dev-d"]).metrics.export(many(1));
    assert.equal(first.partialSuccess?.rejectedDataPoints, 10n);
    assert.match(
      first.partialSuccess?.errorMessage ?? "",
      new RegExp(`10 data points of new series were refused: device "dev-d" holds its limit of ${MAX_SERIES} series`),
    );
    const second = await otlp(creds["dev-d"]).metrics.export(many(2));
    assert.equal(second.partialSuccess?.rejectedDataPoints, first.partialSuccess?.rejectedDataPoints);
    const other = await otlp(creds["dev-a"]).metrics.export(gaugeExport("tgw.many", [{ n: "0" }, { n: "1" }], 5));
    assert.equal(other.partialSuccess, undefined);
    await waitFor("dev-d's held series updated and dev-a's new ones", async () => {
      const d = await scraper.query('count(tgw_many{device_id="dev-d"} == 2)');
      const a = await scraper.query('count(tgw_many{device_id="dev-a"} == 5)');
      return d[0]?.value === MAX_SERIES && a[0]?.value === 2;
    });
    assert.equal(await gatewayMetric("flightctl_telemetry_gateway_points_total", { result: "series_limit" }), 20);
  });

  test("the rate limit: a device over its points per minute gets ResourceExhausted with a retry delay; others go on", async () => {
    const flood = gaugeExport(
      "tgw.flood",
      Array.from({ length: MAX_POINTS_PER_MINUTE + 1 }, (_, i) => ({ n: String(i % 5) })),
    );
    let retryAfter: string | null = null;
    const refused = await otlp(creds["dev-c"])
      .metrics.export(flood)
      .then(
        () => "ok",
        (e) => {
          const err = ConnectError.from(e);
          retryAfter = err.metadata.get("retry-after");
          return `${Code[err.code]}: ${err.rawMessage}`;
        },
      );
    assert.match(refused, /^ResourceExhausted: device "dev-c" sent more metrics data points than its limit per minute; retry in \d+ s/);
    assert.ok(Number(retryAfter) > 0, `retry-after ${retryAfter}`);
    const res = await postHttp(
      "/v1/metrics",
      Buffer.from(toBinary(ExportMetricsServiceRequestSchema, create(ExportMetricsServiceRequestSchema, flood))),
      "application/x-protobuf",
      creds["dev-c"],
    );
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers["retry-after"]) > 0);
    assert.equal(await failure(otlp(creds["dev-a"]).metrics.export(gaugeExport("tgw.calm", [{}]))), "ok");
    assert.ok((await gatewayMetric("flightctl_telemetry_gateway_refused_total", { reason: "rate_limited" })) >= 2);
    assert.deepEqual(await scraper.query("tgw_flood"), []);
  });
});
