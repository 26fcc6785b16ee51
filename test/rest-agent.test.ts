// A device's life over flightctl's REST API alone, as a stock flightctl-agent lives it: enrollment material from the
// user API, an enrollment request with a CSR over mTLS, approval, the rendered device by long-poll, status reports,
// certificate renewal; then the same device switches to the gRPC stream and back to REST.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { waitFor } from "./helpers/agents.js";
import { httpsCall, newEnrollmentRequest, restEnrollmentCredential } from "./helpers/openapi.js";
import { createCsr, generateDeviceKey } from "../lib/csr.js";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";

type Cred = { certPem: string; keyPem: string };
let t: TestApi;
let ca: string;
let admin: string;
before(async () => {
  t = await startTestApi({ worker: true });
  ca = readFileSync(t.api.bundlePath, "utf8");
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const user = (method: string, path: string, body?: unknown) =>
  httpsCall(t.api.port, ca, method, path, {
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${admin}` },
  });
const agent = (cred: Cred, method: string, path: string, body?: unknown, contentType?: string) =>
  httpsCall(t.api.agentPort, ca, method, path, {
    body: body === undefined ? undefined : JSON.stringify(body),
    cert: cred,
    headers: contentType ? { "content-type": contentType } : {},
  });
const json = (body: string) => JSON.parse(body) as JsonObject;

test("enroll, long-poll, report, renew over REST; then the stream and back", async () => {
  // Enrollment material, as `flightctl certificate request` gets it; then the agent's first boot: a key, its name,
  // a CSR, the request; then it polls the request.
  const enroll = await restEnrollmentCredential(t.api.port, ca, admin);
  const { keys, name, er } = await newEnrollmentRequest({ site: "lab" });
  assert.equal((await agent(enroll, "POST", "/api/v1/enrollmentrequests", er)).status, 201);
  assert.equal((await agent(enroll, "POST", "/api/v1/enrollmentrequests", er)).status, 409); // already asked
  const pending = json((await agent(enroll, "GET", `/api/v1/enrollmentrequests/${name}`)).body);
  assert.equal((pending.status as JsonObject | undefined)?.certificate, undefined);
  assert.equal(
    (await user("PUT", `/api/v1/enrollmentrequests/${name}/approval`, { approved: true, labels: { tier: "edge" } })).status,
    200,
  );
  const approved = json((await agent(enroll, "GET", `/api/v1/enrollmentrequests/${name}`)).body);
  const cred = { certPem: (approved.status as JsonObject).certificate as string, keyPem: keys.keyPem };
  assert.match(cred.certPem, /BEGIN CERTIFICATE/);

  // The rendered device: 409 until the first render, then 200; with the version it has, 204 after the wait.
  const rendered = await waitFor("the first render", async () => {
    const r = await agent(cred, "GET", `/api/v1/devices/${name}/rendered`);
    assert.ok(r.status === 200 || r.status === 409, `${r.status} ${r.body}`);
    return r.status === 200 && json(r.body);
  });
  const version = ((rendered.metadata as JsonObject).annotations as Record<string, string>)["device-controller/renderedVersion"];
  const idle = await agent(cred, "GET", `/api/v1/devices/${name}/rendered?knownRenderedVersion=${version}&waitSeconds=1`);
  assert.equal(idle.status, 204);

  // A spec change while the agent waits answers the waiting poll at once.
  const waiting = agent(cred, "GET", `/api/v1/devices/${name}/rendered?knownRenderedVersion=${version}&waitSeconds=60`);
  const device = json((await user("GET", `/api/v1/devices/${name}`)).body);
  const patched = await user("PATCH", `/api/v1/devices/${name}`, undefined);
  assert.equal(patched.status, 400); // no body: refused, naming it
  const put = await user("PUT", `/api/v1/devices/${name}`, { ...device, spec: { os: { image: "quay.io/example/os:2" } } });
  assert.equal(put.status, 200, put.body);
  const woke = await waiting;
  assert.equal(woke.status, 200, woke.body);
  assert.equal(((json(woke.body).spec as JsonObject).os as JsonObject).image, "quay.io/example/os:2");

  // Status reports: a whole status (PUT), then a JSON Patch of it; the user API reads what the agent reported.
  const status = {
    ...(device.status as JsonObject),
    systemInfo: { architecture: "arm64", bootID: "b1", operatingSystem: "linux", agentVersion: "v1.3.0" },
  };
  const reported = await agent(cred, "PUT", `/api/v1/devices/${name}/status`, { ...device, status });
  assert.equal(reported.status, 200, reported.body);
  const patch = [{ op: "replace", path: "/status/systemInfo/bootID", value: "b2" }];
  assert.equal((await agent(cred, "PATCH", `/api/v1/devices/${name}/status`, patch, "application/json-patch+json")).status, 200);
  const info = (json((await user("GET", `/api/v1/devices/${name}`)).body).status as JsonObject).systemInfo as JsonObject;
  assert.deepEqual([info.architecture, info.bootID], ["arm64", "b2"]);
  // Another device's status is not this certificate's to write.
  assert.equal((await agent(cred, "PUT", "/api/v1/devices/someone-else/status", { ...device, status })).status, 403);

  // Renewal: a CSR for a new key under the renewal signer, polled until signed; the new certificate works.
  const next = await generateDeviceKey();
  const csr = {
    apiVersion: "v1beta1",
    kind: "CertificateSigningRequest",
    metadata: { name: `renew-${name.slice(0, 20)}` },
    spec: {
      request: Buffer.from(await createCsr(next, name)).toString("base64"),
      signerName: "flightctl.io/device-management-renewal",
      usages: ["clientAuth", "CA:false"],
    },
  };
  assert.equal((await agent(cred, "POST", "/api/v1/certificatesigningrequests", csr)).status, 201);
  const signed = await waitFor("the renewed certificate", async () => {
    const r = json((await agent(cred, "GET", `/api/v1/certificatesigningrequests/${csr.metadata.name}`)).body);
    const c = (r.status as JsonObject | undefined)?.certificate as string | undefined;
    return c && Buffer.from(c, "base64").toString();
  });
  const renewed = { certPem: signed, keyPem: next.keyPem };
  assert.equal((await agent(renewed, "GET", `/api/v1/devices/${name}/rendered`)).status, 200);

  // The same device on the gRPC stream, then back on REST.
  const transport = createGrpcTransport({
    baseUrl: `https://localhost:${t.api.agentPort}`,
    nodeOptions: { ca, cert: renewed.certPem, key: renewed.keyPem },
  });
  const stream = createClient(AgentDeviceService, transport).watchRenderedDevice({ name, knownRenderedVersion: "0" });
  for await (const msg of stream) {
    if (!msg.device) continue;
    assert.equal(msg.device.spec?.os?.image, "quay.io/example/os:2");
    break;
  }
  const back = await agent(renewed, "GET", `/api/v1/devices/${name}/rendered`);
  assert.equal(back.status, 200);
  assert.equal(((json(back.body).spec as JsonObject).os as JsonObject).image, "quay.io/example/os:2");
});
