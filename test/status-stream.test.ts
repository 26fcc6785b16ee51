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

/** A stream held open: each report sent when the test says, its acknowledgement (or the error that ended the stream) awaited. */
function heldStream(client: ReturnType<typeof agent>) {
  const queued: (Report | undefined)[] = [];
  let wake = () => {};
  const push = (r: Report | undefined) => (queued.push(r), wake());
  async function* input() {
    for (;;) {
      while (!queued.length) await new Promise<void>((resolve) => (wake = resolve));
      const r = queued.shift();
      if (!r) return;
      yield r;
    }
  }
  const responses = client.streamDeviceStatus(input())[Symbol.asyncIterator]();
  return {
    async send(r: Report): Promise<number> {
      const ack = responses.next();
      push(r);
      return Number((await ack).value?.stored);
    },
    end: () => push(undefined),
  };
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
      // One stream held open across the deletion: the report after it ends the stream.
      const held = heldStream(agent(protocol, cred));
      assert.equal(await held.send(report(name, "before")), 1);
      await devices().deleteDevice({ name }, auth());
      await assert.rejects(
        held.send(report(name, "after")),
        (e) => ConnectError.from(e).code === Code.NotFound && /not found/.test(ConnectError.from(e).rawMessage),
      );
      held.end();
    });

    test("a deleted device's stream ends with NotFound also on a report that changes nothing", async () => {
      const name = `ss-gone-same-${protocol}`;
      const cred = await device(name);
      const held = heldStream(agent(protocol, cred));
      assert.equal(await held.send(report(name, "same")), 1);
      await devices().deleteDevice({ name }, auth());
      await assert.rejects(held.send(report(name, "same")), (e) => ConnectError.from(e).code === Code.NotFound);
      held.end();
    });

    test("a held stream's next report starts from the device as others left it: the service's condition, a new render", async () => {
      const name = `ss-moved-${protocol}`;
      const cred = await device(name);
      const running = (info: string): Report => ({
        name,
        device: fromJson(DeviceSchema, { status: { summary: { status: "Online", info }, config: { renderedVersion: "1" } } }),
      });
      const stored = async () => (await t.db.pool.query(`select status from devices where name = $1`, [name])).rows[0].status;
      const held = heldStream(agent(protocol, cred));
      assert.equal(await held.send(running("first")), 1);
      // Another writer adds a condition the service owns (every report keeps it): the device row moves on.
      await t.db.pool.query(
        `update devices set status = jsonb_set(status, '{conditions}', coalesce(status->'conditions', '[]') || '[{"type": "SpecValid", "status": "False"}]'),
                resource_version = flightctl_next_version() where name = $1`,
        [name],
      );
      assert.equal(await held.send(running("second")), 2);
      let status = await stored();
      assert.equal(status.summary.info, "second");
      assert.deepEqual(
        status.conditions.map((c: { type: string }) => c.type),
        ["SpecValid"],
      );
      // A render written beside the device row (device_renders only, as a render that changes no status field): the
      // next report is compared with it, version 2.
      await t.db.pool.query(`insert into device_renders (org_id, name, rendered_version, spec_hash, spec) values ($1, $2, 2, 'h', '{}')`, [
        DEFAULT_ORG_ID,
        name,
      ]);
      assert.equal(await held.send(running("third")), 3);
      status = await stored();
      assert.equal(status.summary.info, "third");
      assert.equal(status.updated.status, "OutOfDate");
      assert.equal(status.conditions.length, 1);
      held.end();
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
