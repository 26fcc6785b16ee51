// flightctl's REST API, checked against flightctl's own OpenAPI documents: every operation (path × verb) of the user
// API (core v1beta1) and of the agent API (agent v1beta1) is called over real HTTPS with valid input and with invalid
// input (a body of the wrong shape, a name that does not exist, a bad selector, no credentials), and every response is
// validated with ajv against the document's schema for its status code. The operations come from the documents, the
// inputs from the request schema each names; an operation with no route, or a response that does not match, fails.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { waitFor } from "./helpers/agents.js";
import {
  httpsCall,
  loadOpenApi,
  newEnrollmentRequest,
  restEnrollmentCredential,
  type HttpAnswer,
  type Operation,
} from "./helpers/openapi.js";
import { parseDocuments } from "../server/platform/codec.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../lib/csr.js";

/** Operations with no REST route, each with why (docs/api.md): the two WebSocket routes are not transcoded RPCs. */
// The application console is a VNC/serial tunnel to a VM application (flightctl's remote-access server), which this
// service has no counterpart of (docs/api.md).
const LEFT_OUT = new Set(["getDeviceApplicationConsole"]);

/**
 * Answers that differ from flightctl's schemas, each with why (docs/api.md "Differences"): a mismatch matching one is
 * reported, not failed; any other fails. proto3 JSON leaves out empty strings and unset messages that flightctl's
 * schemas require.
 */
const KNOWN: [RegExp, string][] = [
  [
    /status must have required property 'systemInfo'/,
    "a device that never reported has no status.systemInfo (proto3 leaves the unset message out)",
  ],
  [
    /devicesSummary must have required property 'applicationStatus'/,
    "a fleet with no devices has no devicesSummary.applicationStatus (unset message)",
  ],
  [/details must match a schema in anyOf/, "event details are one message with every kind's fields, not flightctl's tagged union"],
  [/UserInfoResponse mismatch: data must NOT have additional properties/, "userinfo also returns the caller's roles"],
  [
    /providers\/0\/spec must match a schema in anyOf/,
    "the providers given in the service's configuration are shown without a client secret",
  ],
  [
    /token.*status (400: #\/components\/schemas\/TokenResponse mismatch|(401|503) is not documented)/,
    "a refused token exchange answers a Status, not an OAuth error body; a provider not (yet) known is 401, an unreachable one 503",
  ],
  [
    /GET \/events .*reason must be equal to one of the allowed values/,
    "a console session writes a DeviceConsoleOpened event, a reason flightctl's enum lacks (checked to be the only one)",
  ],
];
const known: string[] = [];

const core = loadOpenApi("core/v1beta1/openapi.yaml");
const agentDoc = loadOpenApi("agent/v1beta1/openapi.yaml");
const examples = new URL("./fixtures/flightctl-examples/", import.meta.url);
const example = (file: string) => parseDocuments(readFileSync(new URL(file, examples), "utf8"))[0] as JsonObject;

type Cred = { certPem: string; keyPem: string };
let t: TestApi;
let ca: string;
let admin: string;
let enroll: Cred;
/** The enrolled device the agent API is called as. */
let device: { name: string; cred: Cred };
/** Names of the resources the user API's operations address, by path parameter. */
const names: Record<string, string> = {};
/** Request bodies by the document's schema name, for the operation at hand. */
let bodies: Record<string, (op: Operation) => Promise<unknown>>;
const failures: string[] = [];
const tally = { total: 0, served: 0, validated: 0, calls: 0, invalidCalls: 0 };

const user = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  httpsCall(t.api.port, ca, method, path, {
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${admin}`, ...headers },
  });
const json = (a: HttpAnswer) => JSON.parse(a.body) as JsonObject;

before(async () => {
  t = await startTestApi({ worker: true });
  ca = readFileSync(t.api.bundlePath, "utf8");
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  // Enrollment material from the user API, an enrollment over the agent API, approval over the user API: REST only.
  enroll = await restEnrollmentCredential(t.api.port, ca, admin);
  const { keys, name, er } = await newEnrollmentRequest({ rest: "agent" });
  const created = await httpsCall(t.api.agentPort, ca, "POST", "/api/v1/enrollmentrequests", { body: JSON.stringify(er), cert: enroll });
  assert.equal(created.status, 201, created.body);
  assert.equal((await user("PUT", `/api/v1/enrollmentrequests/${name}/approval`, { approved: true, labels: {} })).status, 200);
  const approved = json(await httpsCall(t.api.agentPort, ca, "GET", `/api/v1/enrollmentrequests/${name}`, { cert: enroll }));
  device = { name, cred: { certPem: (approved.status as JsonObject).certificate as string, keyPem: keys.keyPem } };
  // The console route opens sessions only to a device that has connected: one agent call, and its last-seen mark.
  await httpsCall(t.api.agentPort, ca, "GET", `/api/v1/devices/${name}/rendered`, { cert: device.cred });
  await waitFor("the device's last-seen mark", async () => (await user("GET", `/api/v1/devices/${name}/lastseen`)).status === 200);

  // What the user API's operations work on: one resource of each kind, created by the operations themselves.
  const erKeys = await generateDeviceKey();
  names.enrollmentrequests = await deviceNameFromPublicKey(erKeys.publicKey);
  const erCsr = await createCsr(erKeys, names.enrollmentrequests);
  Object.assign(names, {
    devices: "rest-device",
    fleets: "rest-fleet",
    repositories: "rest-repo",
    resourcesyncs: "rest-sync",
    certificatesigningrequests: "rest-csr",
    authproviders: "rest-provider",
    appname: "web",
    providername: "rest-provider",
  });
  const meta = (kind: string, name: string, extra: JsonObject = {}) => ({
    apiVersion: "v1beta1",
    kind,
    metadata: { name, labels: { rest: "yes" } },
    ...extra,
  });
  const appSpec = { applications: [{ name: "web", appType: "container", image: "quay.io/example/web:1" }] };
  /** The resource as stored, for status writes (which send the whole resource back). */
  const current = async (path: string) => json(await user("GET", path.replace(/\/status$/, "")));
  const csrBody = example("csr.yaml");
  const csrKeys = await generateDeviceKey();
  (csrBody.spec as JsonObject).request = Buffer.from(await createCsr(csrKeys, names.certificatesigningrequests)).toString("base64");
  bodies = {
    Device: async (op) => (op.path.endsWith("/status") ? current(fill(op)) : meta("Device", names.devices, { spec: appSpec })),
    Fleet: async (op) =>
      op.path.endsWith("/status")
        ? current(fill(op))
        : meta("Fleet", names.fleets, {
            spec: { selector: { matchLabels: { fleet: "rest" } }, template: { metadata: { labels: { fleet: "rest" } }, spec: appSpec } },
          }),
    Repository: async () => meta("Repository", names.repositories, { spec: { type: "oci", registry: "127.0.0.1:1", scheme: "https" } }),
    ResourceSync: async () =>
      meta("ResourceSync", names.resourcesyncs, { spec: { repository: names.repositories, targetRevision: "main", path: "/fleets" } }),
    EnrollmentRequest: async (op) =>
      op.path.endsWith("/status") ? current(fill(op)) : meta("EnrollmentRequest", names.enrollmentrequests, { spec: { csr: erCsr } }),
    EnrollmentRequestApproval: async () => ({ approved: true, labels: { approved: "rest" } }),
    // On .../approval: the request as stored, with the decision in its conditions (flightctl's approval call).
    CertificateSigningRequest: async (op) =>
      op.path.endsWith("/approval")
        ? {
            ...(await current(fill(op).replace(/\/approval$/, ""))),
            status: {
              conditions: [
                {
                  type: "Approved",
                  status: "True",
                  reason: "Approved",
                  message: "approved over REST",
                  lastTransitionTime: new Date().toISOString(),
                },
              ],
            },
          }
        : { ...csrBody, apiVersion: "v1beta1", metadata: { name: names.certificatesigningrequests } },
    AuthProvider: async () =>
      meta("AuthProvider", names.authproviders, {
        spec: {
          providerType: "oidc",
          issuer: "https://127.0.0.1:1/realm",
          clientId: "rest",
          clientSecret: "rest-secret",
          enabled: true,
          organizationAssignment: { type: "static", organizationName: "default" },
          roleAssignment: { type: "static", roles: ["flightctl-viewer"] },
        },
      }),
    // A patch that changes labels; on a status subresource, one that writes the conditions as they are.
    PatchRequest: async (op) =>
      op.path.endsWith("/status")
        ? [{ op: "add", path: "/status/conditions", value: ((await current(fill(op))).status as JsonObject | undefined)?.conditions ?? [] }]
        : [{ op: "add", path: "/metadata/labels/patched", value: "yes" }],
    DeviceDecommission: async () => ({ target: "Unenroll" }),
    DeviceResumeRequest: async () => ({ labelSelector: "rest=yes" }),
    CheckRepositoryOciTagRequest: async () => ({ imageName: "example/web", tag: "1" }),
    CheckRepositoryOciImageRequest: async () => ({ imageName: "example/web" }),
    TokenRequest: async () => ({ grant_type: "refresh_token", client_id: "rest", refresh_token: "not-a-token" }),
  };
});

after(async () => {
  await t?.close();
  await assertNoOpenHandles();
});

/** The operation's path with its parameters filled from `names` ({name} by the collection it names). */
function fill(op: Operation, override?: string): string {
  const parts = op.path.split("/");
  // The WebSocket routes' paths are absolute (/ws/v1/…); the others are under the documents' server URL.
  return `${op.path.startsWith("/ws/") ? "" : "/api/v1"}${parts
    .map((p, i) => {
      const m = /^\{(\w+)\}$/.exec(p);
      if (!m) return p;
      if (override) return override;
      if (m[1] === "name" && op.path.startsWith("/ws/")) return device.name; // a console needs a connected device
      if (m[1] === "name") return names[parts[i - 1]] ?? names[parts[1]];
      if (m[1] === "fleet") return names.fleets;
      return names[m[1]];
    })
    .join("/")}`;
}

/** Query parameters the operation requires (an enum's first value), plus `extra`. */
function query(op: Operation, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  for (const p of op.parameters) if (p.in === "query" && p.required) q.set(p.name, p.schema?.enum?.[0] ?? "x");
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** The order a client would call them in: create, replace, read, patch, actions, decommission, delete. */
function rank(op: Operation): number {
  if (op.verb === "DELETE") return op.path.includes("templateversions") ? 6 : 7;
  if (op.path.endsWith("/decommission")) return 5;
  if (op.verb === "POST" && !op.path.includes("{") && !op.path.startsWith("/deviceactions")) return 0;
  if (op.verb === "PUT" && !op.path.endsWith("/approval")) return 1;
  if (op.verb === "GET") return 2;
  if (op.verb === "PATCH") return 3;
  return 4;
}

/** The headers of a WebSocket upgrade with flightctl's console subprotocol (its WebSocket routes). */
const websocketHandshake = () => ({
  connection: "Upgrade",
  upgrade: "websocket",
  "sec-websocket-version": "13",
  "sec-websocket-key": randomBytes(16).toString("base64"),
  "sec-websocket-protocol": "v5.channel.k8s.io",
});

/** Calls `op` with `path` and `body`, validates the answer against the document, and returns it. */
async function call(
  doc: typeof core,
  op: Operation,
  path: string,
  body: unknown,
  how: { cred?: Cred; port: number; bearer?: boolean },
): Promise<HttpAnswer> {
  const res = await httpsCall(how.port, ca, op.verb, path, {
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    headers: {
      ...(op.path.startsWith("/ws/") ? websocketHandshake() : {}),
      ...(how.bearer ? { authorization: `Bearer ${admin}` } : {}),
      ...(op.verb === "PATCH" ? { "content-type": "application/json-patch+json" } : {}),
    },
    cert: how.cred,
  });
  tally.calls++;
  const problem = doc.check(op, res.status, res.body);
  const line = `${doc.name} ${op.verb} ${op.path} (${path}): ${problem}`;
  if (problem) (KNOWN.some(([re]) => re.test(line)) ? known : failures).push(line);
  assert.equal(res.headers["flightctl-api-version"], "v1beta1", `${op.verb} ${path}: no Flightctl-API-Version header`);
  return res;
}

/** Drives every operation of `doc`: valid input first (must succeed), then each kind of invalid input. */
async function driveAll(doc: typeof core, how: { port: number; bearer?: boolean; cred?: (op: Operation) => Cred; noCred?: Cred }) {
  const ops = [...doc.operations].sort((a, b) => rank(a) - rank(b));
  for (const op of ops) {
    tally.total++;
    if (LEFT_OUT.has(op.id)) {
      // Still no route: adding one must take it off the list (and into the checks below).
      const ws = op.path.startsWith("/ws/") ? websocketHandshake() : {};
      const res = await httpsCall(how.port, ca, op.verb, fill(op), { headers: { ...ws, authorization: `Bearer ${admin}` } });
      assert.ok(res.status === 404 || res.status === 405, `${op.id} is routed now (${res.status}): take it off LEFT_OUT`);
      continue;
    }
    const cred = how.cred?.(op);
    const path = fill(op) + query(op);
    const body = op.bodySchema ? await bodies[op.bodySchema]?.(op) : undefined;
    if (op.bodySchema) assert.ok(body !== undefined, `no request body for schema ${op.bodySchema}`);
    const res = await call(doc, op, path, body, { ...how, cred });
    const noRoute = res.status === 405 || (res.status === 404 && json(res).message?.toString().startsWith("no API operation"));
    assert.ok(!noRoute, `${doc.name} ${op.verb} ${op.path}: no route (${res.body})`);
    tally.served++;
    // A token exchange against a provider that is not reachable, and OCI checks against a registry that is not there,
    // cannot succeed here; every other valid call must.
    // Deleting an approved enrollment request is refused while its device exists (docs/api.md).
    const mayFail = op.id === "authToken" || op.id.startsWith("checkRepositoryOci") || op.id === "deleteEnrollmentRequest";
    if (!mayFail) assert.ok(res.status < 300, `${op.verb} ${path}: ${res.status} ${res.body}`);
    // Invalid input: the wrong shape of body, else a name that does not exist, else a selector that does not parse.
    tally.invalidCalls++;
    if (op.bodySchema)
      await call(doc, op, path, op.bodySchema === "PatchRequest" ? { not: "a patch" } : '"not an object"', { ...how, cred });
    else if (op.path.includes("{name}") && op.responses["404"] && (doc === core || op.responses["403"]))
      await call(doc, op, fill(op, "no-such-name") + query(op), undefined, { ...how, cred });
    else if (op.parameters.some((p) => p.name === "labelSelector"))
      await call(doc, op, fill(op) + query(op, { labelSelector: "a in (" }), undefined, { ...how, cred });
    else if (op.parameters.some((p) => p.name === "fieldSelector"))
      await call(doc, op, fill(op) + query(op, { fieldSelector: "no.such.field=1" }), undefined, { ...how, cred });
    else tally.invalidCalls--;
    // No credentials at all: 401 where the document says so.
    if (op.responses["401"]) {
      const anon = await call(doc, op, path, body, { port: how.port, cred: how.noCred });
      assert.equal(anon.status, 401, `${op.verb} ${path} without credentials: ${anon.status} ${anon.body}`);
    }
    if (![...failures, ...known].some((f) => f.includes(` ${op.verb} ${op.path} `))) tally.validated++;
  }
}

test("every user API operation (core v1beta1) answers as the document says", async () => {
  // The rendered device and the template versions come from the worker: wait for them before reading.
  await user("POST", "/api/v1/fleets", bodies.Fleet ? await bodies.Fleet({ path: "/fleets" } as Operation) : undefined);
  const tvs = await waitFor("a template version", async () => {
    const list = json(await user("GET", `/api/v1/fleets/${names.fleets}/templateversions`));
    return ((list.items as JsonObject[] | undefined) ?? [])[0];
  });
  names.templateversions = (tvs.metadata as JsonObject).name as string;
  await user("DELETE", `/api/v1/fleets/${names.fleets}`);
  await driveAll(core, { port: t.api.port, bearer: true });
  // The console's is the one event reason outside flightctl's enum (KNOWN above) the GET /events call can see; the
  // application start/stop/restart actions driven after it write reasons the 1.3 document lacks as well.
  const schemas = (
    parseDocuments(readFileSync(new URL("./fixtures/flightctl-openapi/core/v1beta1/openapi.yaml", import.meta.url), "utf8"))[0] as {
      components: { schemas: { Event: { properties: { reason: { enum: string[] } } } } };
    }
  ).components.schemas;
  const reasons = new Set(schemas.Event.properties.reason.enum);
  const events = (json(await user("GET", "/api/v1/events?limit=1000")).items as JsonObject[]).map((e) => e.reason as string);
  const actions = /Application(Start|Stop|Restart)Requested$/;
  assert.deepEqual([...new Set(events.filter((r) => !reasons.has(r) && !actions.test(r)))], ["DeviceConsoleOpened"]);
});

test("every agent API operation (agent v1beta1) answers as the document says, over mTLS", async () => {
  names.devices = device.name;
  names.certificatesigningrequests = "rest-renewal";
  names.enrollmentrequests = device.name;
  const renewKeys = await generateDeviceKey();
  const renewal = {
    apiVersion: "v1beta1",
    kind: "CertificateSigningRequest",
    metadata: { name: names.certificatesigningrequests },
    spec: {
      request: Buffer.from(await createCsr(renewKeys, device.name)).toString("base64"),
      signerName: "flightctl.io/device-management-renewal",
      usages: ["clientAuth", "CA:false"],
    },
  };
  const agentDevice = async () => json(await user("GET", `/api/v1/devices/${device.name}`));
  const agentBodies = {
    ...bodies,
    Device: async () => agentDevice(),
    PatchRequest: async () => [
      { op: "add", path: "/status/conditions", value: ((await agentDevice()).status as JsonObject).conditions ?? [] },
    ],
    CertificateSigningRequest: async () => renewal,
    // A second device asking to enroll (the first one's request exists already).
    EnrollmentRequest: async () => {
      const keys = await generateDeviceKey();
      const name = await deviceNameFromPublicKey(keys.publicKey);
      return { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr: await createCsr(keys, name) } };
    },
  };
  const saved = bodies;
  bodies = agentBodies as typeof bodies;
  try {
    // Enrollment requests are the enrollment certificate's; the rest is the device's own management certificate.
    await driveAll(agentDoc, { port: t.api.agentPort, cred: (op) => (op.path.startsWith("/enrollmentrequests") ? enroll : device.cred) });
  } finally {
    bodies = saved;
  }
});

test("the agent's long-poll: the rendered device, then 204 when nothing newer comes within the wait", async () => {
  const get = (q: string) => httpsCall(t.api.agentPort, ca, "GET", `/api/v1/devices/${device.name}/rendered${q}`, { cert: device.cred });
  const first = await waitFor("a rendered device", async () => {
    const r = await get("");
    return r.status === 200 && r;
  });
  const version = ((json(first).metadata as JsonObject).annotations as Record<string, string>)["device-controller/renderedVersion"];
  assert.ok(version, first.body);
  const again = await get(`?knownRenderedVersion=${version}&waitSeconds=1`);
  assert.equal(again.status, 204);
  assert.equal(again.body, "");
  assert.equal(agentDoc.check(agentDoc.operations.find((o) => o.id === "getRenderedDevice")!, again.status, again.body), undefined);
});

test("every operation is served and every response matches its schema", () => {
  console.log(
    `REST vs OpenAPI: ${tally.total} operations, ${tally.served} served, ${tally.validated} validated without a known difference, ${LEFT_OUT.size} left out (${[...LEFT_OUT].join(", ")}); ${tally.calls} calls, ${tally.invalidCalls} with invalid input`,
  );
  for (const [re, why] of KNOWN) {
    const n = known.filter((k) => re.test(k)).length;
    if (n) console.log(`known difference (${n} answers): ${why}`);
  }
  assert.deepEqual(failures, []);
  assert.equal(tally.served + LEFT_OUT.size, tally.total);
});
