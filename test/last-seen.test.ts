// When the service last heard from a device: the agent endpoint marks it in memory and flushes marks in batches to
// device_last_seen (never rewriting the device row); GetDevice/ListDevices return it as status.lastSeen and
// GetDeviceLastSeen as flightctl's DeviceLastSeen. A console to a device that never connected, or whose agent has
// been silent past the disconnect timeout, is refused at once with the last-seen time, and records no session or event.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceLastSeenSchema, DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { ConsoleService } from "../gen/flightctl/v1beta1/console_service_pb.js";
import { createDeviceAgentService } from "../server/devices/device-agent-service.js";
import { createLastSeenRecorder, type LastSeenRecorder } from "../server/devices/last-seen.js";
import { createHeartbeatWheel, type HeartbeatWheel } from "../server/devices/heartbeat-wheel.js";
import type { RenderNotifier } from "../server/devices/render-notifier.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID, type Caller } from "../server/platform/identity.js";

let t: TestApp;
let recorder: LastSeenRecorder;
let wheel: HeartbeatWheel;
let agentSvc: ReturnType<typeof createDeviceAgentService>;
before(async () => {
  t = await startTestApp();
  // A flush period longer than the test: only explicit flushes write.
  recorder = createLastSeenRecorder(createDb(t.db.pool), pino({ level: "silent" }), { flushMs: 600_000 });
  wheel = createHeartbeatWheel(600_000);
  const notifier = { subscribe: () => () => {} } as unknown as RenderNotifier;
  agentSvc = createDeviceAgentService({ db: createDb(t.db.pool), lastSeen: recorder, notifier, wheel });
});
after(async () => {
  wheel.close();
  await recorder.close();
  await t.close();
  await assertNoOpenHandles();
});

const devices = () => createClient(DeviceService, t.transport);
const consoles = () => createClient(ConsoleService, t.transport);
const deviceCaller = (name: string): Caller => ({
  orgId: DEFAULT_ORG_ID,
  identity: { kind: "device", actor: `device:${name}`, username: name, deviceName: name, orgId: DEFAULT_ORG_ID },
});
const create = (name: string) =>
  devices().createDevice({ device: fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: {} }) });
const report = (name: string) =>
  agentSvc.replaceStatus(deviceCaller(name), name, fromJson(DeviceSchema, { status: { summary: { status: "Online" } } }));
const rowVersion = async (name: string) =>
  (await t.db.pool.query("select resource_version::text v from devices where name = $1", [name])).rows[0].v as string;
const codeAndMessage = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => `${Code[ConnectError.from(e).code]}: ${ConnectError.from(e).rawMessage}`,
  );

test("status.lastSeen and GetDeviceLastSeen: absent until the agent is heard from, then the flushed time", async () => {
  await create("seen-1");
  await create("never-1");
  assert.equal((await devices().getDevice({ name: "seen-1" })).status?.lastSeen, undefined);
  assert.deepEqual(toJson(DeviceLastSeenSchema, await devices().getDeviceLastSeen({ name: "seen-1" })), {});

  const before = Date.now();
  await report("seen-1");
  await recorder.flush();
  const got = await devices().getDevice({ name: "seen-1" });
  assert.ok(got.status?.lastSeen, "GetDevice returns status.lastSeen");
  const at = timestampDate(got.status.lastSeen).getTime();
  assert.ok(at >= before - 1000 && at <= Date.now() + 1000, `lastSeen ${new Date(at).toISOString()} is now`);

  const list = await devices().listDevices({ options: { fieldSelector: "metadata.name in (seen-1, never-1)" } });
  const byName = Object.fromEntries(list.items.map((d) => [d.metadata?.name, d.status?.lastSeen]));
  assert.equal(timestampDate(byName["seen-1"]!).getTime(), at, "ListDevices returns it too");
  assert.equal(byName["never-1"], undefined, "a device never heard from has none");
  assert.equal(timestampDate((await devices().getDeviceStatus({ name: "seen-1" })).status!.lastSeen!).getTime(), at);

  const json = toJson(DeviceLastSeenSchema, await devices().getDeviceLastSeen({ name: "seen-1" })) as { lastSeen: string };
  assert.equal(new Date(json.lastSeen).getTime(), at, "flightctl's DeviceLastSeen JSON: {lastSeen: RFC 3339}");
  assert.deepEqual(toJson(DeviceLastSeenSchema, await devices().getDeviceLastSeen({ name: "never-1" })), {});
  assert.match(await codeAndMessage(devices().getDeviceLastSeen({ name: "nobody" })), /^NotFound: Device "nobody" not found/);
  // The field selector reads the same table.
  const selected = await devices().listDevices({ options: { fieldSelector: `lastSeen>=${new Date(at - 1000).toISOString()}` } });
  assert.deepEqual(
    selected.items.map((d) => d.metadata?.name),
    ["seen-1"],
  );
});

test("heartbeats move lastSeen without rewriting the device row", async () => {
  await create("beat-1");
  await report("beat-1");
  await recorder.flush();
  const version = await rowVersion("beat-1");
  const first = timestampDate((await devices().getDevice({ name: "beat-1" })).status!.lastSeen!).getTime();
  await new Promise((r) => setTimeout(r, 20));
  // An unchanged report and a heartbeat touch: no write of the device, a later lastSeen.
  await report("beat-1");
  recorder.touch(DEFAULT_ORG_ID, "beat-1");
  await recorder.flush();
  assert.equal(await rowVersion("beat-1"), version, "the device row was not written");
  const second = timestampDate((await devices().getDevice({ name: "beat-1" })).status!.lastSeen!).getTime();
  assert.ok(second > first, "lastSeen moved");
});

test("a console to a device that never connected, or went offline, fails at once with its last-seen time; nothing recorded", async () => {
  await create("console-never");
  await create("console-offline");
  await t.db.pool.query("insert into device_last_seen (org_id, name, last_seen) values ($1, $2, now() - interval '17 minutes')", [
    DEFAULT_ORG_ID,
    "console-offline",
  ]);
  const open = async (name: string) => {
    const started = Date.now();
    const r = await codeAndMessage(
      (async () => {
        for await (const _ of consoles().streamDeviceConsole({ open: { name, metadata: { tty: true } } })) break;
      })(),
    );
    return { r, ms: Date.now() - started };
  };
  const never = await open("console-never");
  assert.match(never.r, /^FailedPrecondition: device "console-never" has never connected to the service/);
  assert.ok(never.ms < 2000, `refused at once (${never.ms} ms)`);
  const offline = await open("console-offline");
  assert.match(offline.r, /^FailedPrecondition: device "console-offline" is offline: last seen \d{4}-\d\d-\d\dT[\d:.]+Z \(17m ago\)/);
  const events = await t.db.pool.query("select count(*)::int n from events where reason = 'DeviceConsoleOpened'");
  assert.equal(events.rows[0].n, 0, "no DeviceConsoleOpened event");
  assert.equal((await consoles().listConsoleSessions({ name: "console-never" })).sessions.length, 0, "no session recorded");
});
