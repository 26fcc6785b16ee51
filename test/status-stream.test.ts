// StreamDeviceStatus over real sockets: plain gRPC (served below Connect, platform/grpc-stream.ts) and the Connect
// protocol (served by Connect). Reports are stored strictly in order, each acknowledged once stored; a deleted device's
// stream ends with NotFound, bad input with InvalidArgument naming the field, another device's name with
// PermissionDenied — the answers ReplaceDeviceStatus gives.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readFileSync } from "node:fs";
import { create, fromJson, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { ensurePki } from "../server/platform/pki/ca.js";
import { signClientCertificate } from "../server/platform/pki/signer.js";
import { generateDeviceKey } from "../lib/csr.js";
import { DEVICE_CN_PREFIX, SIGNER_DEVICE_ENROLLMENT } from "../server/certificates/signers.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { AgentDeviceService, type StreamDeviceStatusRequestSchema } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";

let t: TestApi;
let ca: string;
let admin: string;
let pki: Awaited<ReturnType<typeof ensurePki>>;

before(async () => {
  t = await startTestApi();
  ca = readFileSync(t.api.bundlePath, "utf8");
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  pki = await ensurePki(t.dataDir);
});

after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const devices = () => createClient(DeviceService, createGrpcTransport({ baseUrl: `https://localhost:${t.api.port}`, nodeOptions: { ca } }));

/** A device in the inventory and a management certificate for it. */
async function device(name: string) {
  await devices().createDevice(
    { device: fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: {} }) },
    auth(),
  );
  const keys = await generateDeviceKey();
  const { certPem } = await signClientCertificate(pki.clientSigner, {
    publicKey: keys.publicKey,
    commonName: DEVICE_CN_PREFIX + name,
    signerName: SIGNER_DEVICE_ENROLLMENT,
    orgId: DEFAULT_ORG_ID,
    deviceFingerprint: name,
    validitySeconds: 3600,
  });
  return { certPem, keyPem: keys.keyPem };
}

type Protocol = "grpc" | "connect";
/** The agent endpoint's device client with `cred`: gRPC (the raw path) or the Connect protocol over HTTP/2 (Connect). */
function agent(protocol: Protocol, cred: { certPem: string; keyPem: string }) {
  const opts = { baseUrl: `https://localhost:${t.api.agentPort}`, nodeOptions: { ca, cert: cred.certPem, key: cred.keyPem } };
  const transport: Transport = protocol === "grpc" ? createGrpcTransport(opts) : createConnectTransport({ ...opts, httpVersion: "2" });
  return createClient(AgentDeviceService, transport);
}

type Report = MessageInitShape<typeof StreamDeviceStatusRequestSchema>;
const report = (name: string, info: string): Report => ({
  name,
  device: fromJson(DeviceSchema, { status: { summary: { status: "Online", info } } }),
});

/** Sends `reports` (all at once, not waiting for acknowledgements); the acknowledgements, or how the stream ended. */
async function stream(client: ReturnType<typeof agent>, reports: Report[]) {
  const acks: number[] = [];
  async function* input() {
    yield* reports;
  }
  try {
    for await (const ack of client.streamDeviceStatus(input())) acks.push(Number(ack.stored));
    return { acks, end: "OK" };
  } catch (e) {
    const err = ConnectError.from(e);
    return { acks, end: `${Code[err.code]}: ${err.rawMessage}` };
  }
}

const storedInfo = async (name: string) => (await devices().getDeviceStatus({ name }, auth())).status?.summary?.info;

for (const protocol of ["grpc", "connect"] as const) {
  describe(`StreamDeviceStatus (${protocol})`, () => {
    test("reports sent back to back are stored in order, each acknowledged", async () => {
      const name = `ss-order-${protocol}`;
      const cred = await device(name);
      const n = 40;
      const got = await stream(
        agent(protocol, cred),
        Array.from({ length: n }, (_, i) => report(name, `report ${i}`)),
      );
      assert.deepEqual(got, { acks: Array.from({ length: n }, (_, i) => i + 1), end: "OK" });
      assert.equal(await storedInfo(name), `report ${n - 1}`, "the last report sent is the one stored");
      // A new stream goes on where the last one left off.
      assert.deepEqual(await stream(agent(protocol, cred), [report(name, "again")]), { acks: [1], end: "OK" });
      assert.equal(await storedInfo(name), "again");
    });

    test("a deleted device's stream ends with NotFound", async () => {
      const name = `ss-gone-${protocol}`;
      const cred = await device(name);
      const client = agent(protocol, cred);
      // One stream held open across the deletion: the report after it ends the stream.
      const queued: (Report | undefined)[] = [];
      let wake = () => {};
      const next = (r: Report | undefined) => (queued.push(r), wake());
      async function* input() {
        for (;;) {
          while (!queued.length) await new Promise<void>((resolve) => (wake = resolve));
          const r = queued.shift();
          if (!r) return;
          yield r;
        }
      }
      const responses = client.streamDeviceStatus(input())[Symbol.asyncIterator]();
      const first = responses.next();
      next(report(name, "before"));
      assert.equal(Number((await first).value?.stored), 1);
      await devices().deleteDevice({ name }, auth());
      const second = responses.next();
      next(report(name, "after"));
      await assert.rejects(second, (e) => ConnectError.from(e).code === Code.NotFound && /not found/.test(ConnectError.from(e).rawMessage));
      next(undefined);
    });

    test("bad input ends the stream with InvalidArgument naming the field, after the reports before it", async () => {
      const name = `ss-bad-${protocol}`;
      const cred = await device(name);
      const got = await stream(agent(protocol, cred), [report(name, "fine"), report(name, "nul\u0000here"), report(name, "never")]);
      assert.deepEqual(got.acks, [1]);
      assert.match(got.end, /^InvalidArgument: .*device\.status\.summary\.info/);
      assert.equal(await storedInfo(name), "fine");
      const missing = await stream(agent(protocol, cred), [{ name }]);
      assert.deepEqual(missing, { acks: [], end: "InvalidArgument: device: is required" });
    });

    test("a device cannot report for another device", async () => {
      const mine = `ss-mine-${protocol}`;
      const other = `ss-other-${protocol}`;
      const cred = await device(mine);
      await device(other);
      const got = await stream(agent(protocol, cred), [report(other, "forged")]);
      assert.equal(got.acks.length, 0);
      assert.match(got.end, /^PermissionDenied: device "ss-mine-\w+" may only act on itself/);
      assert.equal(await storedInfo(other), undefined);
    });
  });
}

test("an oversized message ends the raw stream with ResourceExhausted", async () => {
  const name = "ss-big";
  const cred = await device(name);
  const big = create(DeviceSchema, {});
  big.status = fromJson(DeviceSchema, { status: { summary: { status: "Online", info: "x".repeat(5 * 1024 * 1024) } } }).status;
  const got = await stream(agent("grpc", cred), [report(name, "small"), { name, device: big }]);
  assert.deepEqual(got.acks, [1]);
  assert.match(got.end, /^ResourceExhausted: /);
});

test("reports spanning many HTTP/2 frames are cut and stored whole, in order (raw path)", async () => {
  const name = "ss-large";
  const cred = await device(name);
  const infos = ["a", "b", "c"].map((c) => c.repeat(600 * 1024));
  const got = await stream(
    agent("grpc", cred),
    infos.map((i) => report(name, i)),
  );
  assert.deepEqual(got, { acks: [1, 2, 3], end: "OK" });
  assert.equal(await storedInfo(name), infos[2]);
});

test("an idle raw status stream is ended cleanly by the service, and a new one takes the next report", async () => {
  // A replica of the same service with 200 ms heartbeats: a status stream is ended after two periods without a report.
  const quick = await startTestApi({ heartbeatMs: 200, reuse: { db: t.db, dataDir: t.dataDir, issuer: t.issuer } });
  try {
    const name = "ss-idle";
    const cred = await device(name);
    const opts = { baseUrl: `https://localhost:${quick.api.agentPort}`, nodeOptions: { ca, cert: cred.certPem, key: cred.keyPem } };
    const client = createClient(AgentDeviceService, createGrpcTransport(opts));
    // The request side stays open (as the agent's does): only the service can end this stream.
    let stop = () => {};
    const held = new Promise<void>((resolve) => (stop = resolve));
    async function* input() {
      yield report(name, "first");
      await held;
    }
    const acks: number[] = [];
    for await (const ack of client.streamDeviceStatus(input())) acks.push(Number(ack.stored));
    stop();
    assert.deepEqual(acks, [1], "the report was acknowledged, then the stream ended OK");
    assert.equal(await storedInfo(name), "first");
    assert.deepEqual(await stream(client, [report(name, "next")]), { acks: [1], end: "OK" });
    assert.equal(await storedInfo(name), "next");
  } finally {
    await quick.stop();
  }
});
