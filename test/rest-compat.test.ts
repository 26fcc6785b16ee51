// flightctl's REST paths as its users' scripts use them: every example resource of flightctl applied with
// `curl -X PUT` to its REST path reads back as written; and one call answers the same JSON over REST, Connect and gRPC.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { httpsCall } from "./helpers/openapi.js";
import { parseDocuments } from "../server/platform/codec.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceListSchema, DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";

const run = promisify(execFile);
const root = new URL("./fixtures/flightctl-examples/", import.meta.url);
const files = [
  ...readdirSync(root).filter((f) => /\.ya?ml$/.test(f)),
  ...readdirSync(new URL("test-data/", root)).map((f) => `test-data/${f}`),
];
/** Examples flightctl refuses too, or that this service refuses earlier (test/compat.test.ts says which and why). */
const REFUSED = new Set(["test-data/badfleetrequest.yaml", "csr-waiting.yml", "test-data/enrollmentrequest-waiting.yaml"]);

let t: TestApi;
let ca: string;
let caFile: string;
let dir: string;
let token: string;
before(async () => {
  t = await startTestApi();
  ca = readFileSync(t.api.bundlePath, "utf8");
  caFile = t.api.bundlePath;
  dir = mkdtempSync(join(tmpdir(), "fc-rest-"));
  token = await t.issuer.token("root", { roles: ["flightctl-admin"] });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await t.close();
  await assertNoOpenHandles();
});

/** proto3 cannot tell an empty list from an absent one (documented difference): compare without empty lists. */
function withoutEmptyLists(v: JsonValue | undefined): JsonValue | undefined {
  if (Array.isArray(v)) return v.map((x) => withoutEmptyLists(x) as JsonValue);
  if (v && typeof v === "object") {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) if (!(Array.isArray(x) && x.length === 0)) out[k] = withoutEmptyLists(x) as JsonValue;
    return out;
  }
  return v;
}

/** `want` with the secrets `got` shows masked ("*****", as flightctl answers them) masked too. */
function maskedLike(want: JsonValue | undefined, got: JsonValue | undefined): JsonValue | undefined {
  if (got === "*****" && typeof want === "string") return got;
  if (Array.isArray(want) && Array.isArray(got)) return want.map((w, i) => maskedLike(w, got[i]) as JsonValue);
  if (want && got && typeof want === "object" && typeof got === "object" && !Array.isArray(want) && !Array.isArray(got)) {
    return Object.fromEntries(Object.entries(want).map(([k, w]) => [k, maskedLike(w, got[k]) as JsonValue]));
  }
  return want;
}

/** The REST collection of a kind, as flightctl names it: lower case, plural. */
const collection = (kind: string) => (kind.endsWith("y") ? `${kind.slice(0, -1)}ies` : `${kind}s`).toLowerCase();

async function curl(method: string, path: string, file?: string): Promise<{ status: number; body: JsonObject }> {
  const args = ["-sS", "--cacert", caFile, "-X", method, "-H", `Authorization: Bearer ${token}`, "-w", "\n%{http_code}"];
  if (file) args.push("-H", "Content-Type: application/json", "--data-binary", `@${file}`);
  const { stdout } = await run("curl", [...args, `https://localhost:${t.api.port}${path}`]);
  const nl = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(nl + 1)), body: JSON.parse(stdout.slice(0, nl)) as JsonObject };
}

test("flightctl's example resources PUT with curl to their REST paths read back as written", async () => {
  // Repositories first: configs and syncs refer to them.
  const ordered = files.filter((f) => !REFUSED.has(f)).sort((a, b) => Number(!/repository/.test(a)) - Number(!/repository/.test(b)));
  let applied = 0;
  for (const file of ordered) {
    for (const doc of parseDocuments(readFileSync(new URL(file, root), "utf8").replaceAll("{{test_id}}", "t1")) as JsonObject[]) {
      const name = (doc.metadata as JsonObject).name as string;
      const path = `/api/v1/${collection(doc.kind as string)}/${name}`;
      const body = join(dir, "body.json");
      writeFileSync(body, JSON.stringify(doc));
      const put = await curl("PUT", path, body);
      assert.ok(put.status === 200 || put.status === 201, `${file}: PUT ${path}: ${put.status} ${JSON.stringify(put.body)}`);
      const got = await curl("GET", path);
      assert.equal(got.status, 200, `${file}: GET ${path}`);
      assert.equal(got.body.kind, doc.kind);
      const meta = got.body.metadata as JsonObject;
      assert.equal(meta.name, name);
      assert.deepEqual(meta.labels ?? {}, (doc.metadata as JsonObject).labels ?? {}, `${file}: labels`);
      // What was written reads back; the service adds only the requester to a CSR's spec (username, uid), as flightctl.
      const spec = (got.body.spec ?? {}) as JsonObject;
      const wrote = (doc.spec ?? {}) as JsonObject;
      const extra = Object.keys(spec).filter((k) => !(k in wrote));
      assert.ok(
        extra.every((k) => doc.kind === "CertificateSigningRequest" && (k === "username" || k === "uid")),
        `${file}: added ${extra}`,
      );
      const written = Object.fromEntries(
        Object.keys(wrote)
          .map((k) => [k, spec[k]])
          .filter(([, v]) => v !== undefined),
      );
      assert.deepEqual(withoutEmptyLists(written), withoutEmptyLists(maskedLike(wrote, spec)), `${file}: spec`);
      applied++;
    }
  }
  assert.ok(applied >= 25, `applied ${applied}`);
});

test("a Get and a List answer the same JSON over REST, Connect (JSON) and gRPC", async () => {
  const device = {
    apiVersion: "v1beta1",
    kind: "Device",
    metadata: { name: "same-json", labels: { site: "lab" } },
    spec: { os: { image: "quay.io/example/os:1" } },
  };
  const created = await httpsCall(t.api.port, ca, "POST", "/api/v1/devices", {
    body: JSON.stringify(device),
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(created.status, 201, created.body);
  const headers = { authorization: `Bearer ${token}` };
  const baseUrl = `https://localhost:${t.api.port}`;
  const connect = createClient(
    DeviceService,
    createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: { ca }, useBinaryFormat: false }),
  );
  const grpc = createClient(DeviceService, createGrpcTransport({ baseUrl, nodeOptions: { ca } }));

  const rest = JSON.parse((await httpsCall(t.api.port, ca, "GET", "/api/v1/devices/same-json", { headers })).body) as JsonValue;
  const viaConnect = toJson(DeviceSchema, await connect.getDevice({ name: "same-json" }, { headers }));
  const viaGrpc = toJson(DeviceSchema, await grpc.getDevice({ name: "same-json" }, { headers }));
  assert.deepEqual(withoutEmptyLists(rest), withoutEmptyLists(viaConnect));
  assert.deepEqual(viaGrpc, viaConnect);

  const list = await httpsCall(t.api.port, ca, "GET", "/api/v1/devices?labelSelector=site%3Dlab&limit=10", { headers });
  const restList = JSON.parse(list.body) as JsonObject;
  assert.equal((restList.items as JsonValue[]).length, 1);
  const options = { labelSelector: "site=lab", limit: 10 };
  const connectList = toJson(DeviceListSchema, await connect.listDevices({ options }, { headers }));
  const grpcList = toJson(DeviceListSchema, await grpc.listDevices({ options }, { headers }));
  assert.deepEqual(withoutEmptyLists(restList), withoutEmptyLists(connectList));
  assert.deepEqual(grpcList, connectList);
});

test("an unsupported Flightctl-API-Version is 406 with the supported ones; a wrong verb is 405", async () => {
  const headers = { authorization: `Bearer ${token}`, "flightctl-api-version": "v2" };
  const res = await httpsCall(t.api.port, ca, "GET", "/api/v1/devices", { headers });
  assert.equal(res.status, 406);
  assert.equal(res.headers["flightctl-api-versions-supported"], "v1beta1");
  assert.equal(JSON.parse(res.body).kind, "Status");
  const ok = await httpsCall(t.api.port, ca, "GET", "/api/v1/devices", { headers: { ...headers, "flightctl-api-version": "v1beta1" } });
  assert.equal(ok.status, 200);
  const verb = await httpsCall(t.api.port, ca, "POST", "/api/v1/devices/x", { body: "{}", headers: { authorization: `Bearer ${token}` } });
  assert.equal(verb.status, 405);
  assert.match(String(verb.headers.allow), /GET/);
});
