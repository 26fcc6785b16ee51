// The user endpoint over real sockets: TLS from the service's own CA, HTTP/2 gRPC and HTTP/1.1 Connect, gRPC
// reflection and health, /metrics, /readyz, unknown JSON fields refused, and a clean shutdown.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import https from "node:https";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { startTestApi, type TestApi } from "./helpers/api.js";
import type { RunningApi } from "../server/main/api.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { ServerReflection } from "../gen/third_party/grpc/reflection/v1/reflection_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../gen/third_party/grpc/health/v1/health_pb.js";

let api: RunningApi;
let dataDir: string;
let ca: Buffer;
let base: string;
let t: TestApi;
let token: string;
/** Sends the admin's bearer token on every call. */
const bearer = [
  (next: (r: { header: Headers }) => Promise<unknown>) => (req: { header: Headers }) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  },
] as never;

before(async () => {
  t = await startTestApi();
  ({ api, dataDir } = t);
  token = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  ca = readFileSync(api.caPath);
  base = `https://localhost:${api.port}`;
});
after(async () => {
  await t.close(); // idempotent: the shutdown test may have closed the server already
  await assertNoOpenHandles();
});

const grpc = () => createGrpcTransport({ baseUrl: base, nodeOptions: { ca }, interceptors: bearer });

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(`${base}${path}`, { ca, agent: false }, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

test("the server certificate verifies against the generated CA (openssl)", () => {
  const out = execFileSync("openssl", ["verify", "-CAfile", api.caPath, join(dataDir, "certs", "server.crt")], { encoding: "utf8" });
  assert.match(out, /: OK/);
  const mode = execFileSync("stat", ["-c", "%a", join(dataDir, "certs", "ca.key")], { encoding: "utf8" }).trim();
  assert.equal(mode, "600");
});

test("gRPC over HTTP/2 and Connect JSON over HTTP/1.1 both serve the API", async () => {
  const viaGrpc = createClient(DeviceService, grpc());
  await viaGrpc.createDevice({ device: { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: "wire-1" } } });
  const viaConnect = createClient(
    DeviceService,
    createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: { ca }, interceptors: bearer }),
  );
  const list = await viaConnect.listDevices({});
  assert.deepEqual(
    list.items.map((d) => d.metadata?.name),
    ["wire-1"],
  );
});

test("unknown JSON fields are refused with InvalidArgument", async () => {
  const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = https.request(
      `${base}/flightctl.v1beta1.DeviceService/GetDevice`,
      { method: "POST", ca, agent: false, headers: { "content-type": "application/json", authorization: `Bearer ${token}` } },
      (r) => {
        let text = "";
        r.on("data", (c) => (text += c));
        r.on("end", () => resolve({ status: r.statusCode ?? 0, text }));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ name: "wire-1", bogus: true }));
  });
  assert.equal(body.status, 400);
  assert.equal(JSON.parse(body.text).code, "invalid_argument");
  assert.match(body.text, /bogus/);
});

test("gRPC reflection lists every service and returns decodable descriptors", async () => {
  const client = createClient(ServerReflection, grpc());
  async function* one(req: object) {
    yield req;
  }
  const responses = [];
  for await (const r of client.serverReflectionInfo(one({ messageRequest: { case: "listServices", value: "" } }) as never))
    responses.push(r);
  const listed = responses[0].messageResponse;
  assert.equal(listed.case, "listServicesResponse");
  const names = listed.case === "listServicesResponse" ? listed.value.service.map((s) => s.name) : [];
  for (const s of [
    "flightctl.v1beta1.DeviceService",
    "flightctl.v1beta1.FleetService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
  ]) {
    assert.ok(names.includes(s), `${s} in ${names.join(",")}`);
  }
  const files = [];
  for await (const r of client.serverReflectionInfo(
    one({ messageRequest: { case: "fileContainingSymbol", value: "flightctl.v1beta1.DeviceService" } }) as never,
  ))
    files.push(r);
  const fd = files[0].messageResponse;
  assert.equal(fd.case, "fileDescriptorResponse");
  const decoded =
    fd.case === "fileDescriptorResponse" ? fd.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name) : [];
  assert.equal(decoded[0], "flightctl/v1beta1/device_service.proto");
  assert.ok(decoded.includes("flightctl/v1beta1/device.proto"));
  assert.ok(decoded.includes("google/protobuf/struct.proto"));
  const missing = [];
  for await (const r of client.serverReflectionInfo(
    one({ messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } }) as never,
  ))
    missing.push(r);
  assert.equal(missing[0].messageResponse.case, "errorResponse");
});

test("/metrics counts calls by method and code; /healthz and /readyz answer", async () => {
  await assert.rejects(
    createClient(DeviceService, grpc()).getDevice({ name: "absent" }),
    (e: unknown) => e instanceof ConnectError && e.code === Code.NotFound,
  );
  const metrics = await get("/metrics");
  assert.equal(metrics.status, 200);
  assert.match(
    metrics.body,
    /flightctl_api_requests_total\{service="flightctl.v1beta1.DeviceService",method="GetDevice",code="not_found"\} 1/,
  );
  assert.match(metrics.body, /flightctl_api_requests_total\{service="flightctl.v1beta1.DeviceService",method="CreateDevice",code="ok"\} 1/);
  assert.equal((await get("/healthz")).status, 200);
  assert.equal((await get("/readyz")).status, 200);
  // Unknown RPCs and missing files are 404s (other GETs are the web UI's client-side routes).
  assert.equal((await get("/flightctl.v1beta1.NoSuchService/Nope")).status, 404);
  assert.equal((await get("/nope.js")).status, 404);
});

test("health is SERVING, and NOT_SERVING once shutdown begins", async () => {
  const health = createClient(Health, grpc());
  assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
  assert.equal((await health.check({ service: "flightctl.v1beta1.DeviceService" })).status, Serving.SERVING);
  await assert.rejects(health.check({ service: "no.Such" }), (e: unknown) => e instanceof ConnectError && e.code === Code.NotFound);
  const watch = health.watch({ service: "" })[Symbol.asyncIterator]();
  assert.equal((await watch.next()).value?.status, Serving.SERVING);
  const closing = api.close();
  const next = await watch.next();
  assert.ok(next.done || next.value?.status === Serving.NOT_SERVING);
  await closing;
});
