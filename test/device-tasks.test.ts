// The device tasks against Postgres: rendering bumps the version only when content changes, a spec that cannot be
// rendered is marked SpecValid=False (and recovers), renders notify listeners; the disconnect sweep marks silent
// devices Unknown with DeviceDisconnected, and a report brings them back with DeviceConnected. The write path
// enqueues render jobs in its transaction.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { createClient } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { createDeviceTasks } from "../server/devices/device-tasks.js";
import { createRenderStore } from "../server/devices/render-store.js";
import { startRenderNotifier } from "../server/devices/render-notifier.js";
import { createDeviceAgentService } from "../server/devices/device-agent-service.js";
import { createLastSeenRecorder } from "../server/devices/last-seen.js";
import { createDb, type Db } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { create } from "@bufbuild/protobuf";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";

let t: TestApp;
let db: Db;
before(async () => {
  t = await startTestApp();
  db = createDb(t.db.pool);
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const ORG = DEFAULT_ORG_ID;
const devices = () => createClient(DeviceService, t.transport);
const events = async (name: string) =>
  (await t.db.pool.query(`select reason from events where involved_name = $1 order by seq`, [name])).rows.map((r) => r.reason as string);

async function putDevice(name: string, spec: object) {
  await devices().replaceDevice({ name, device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: spec as never } });
}

test("writes add their device to a pending batch render job in their transaction", async () => {
  await putDevice("r0", {});
  await putDevice("r0", { os: { image: "quay.io/x/os:1" } });
  const jobs = await t.db.pool.query(`select key, payload from graphile_worker._private_jobs where key like $1`, [`render:${ORG}:%`]);
  assert.equal(jobs.rows.length, 1, "both writes share one pending job");
  assert.deepEqual(jobs.rows[0].payload, [
    { orgId: ORG, name: "r0" },
    { orgId: ORG, name: "r0" },
  ]);
  // Many devices spread over a few sharded jobs, not one job each.
  await t.db.pool.query(`delete from graphile_worker._private_jobs`);
  for (let i = 0; i < 40; i++) await putDevice(`many-${i}`, {});
  const batched = await t.db.pool.query(`select payload from graphile_worker._private_jobs where key like $1`, [`render:${ORG}:%`]);
  assert.ok(batched.rows.length <= 8, `40 devices in ${batched.rows.length} jobs`);
  assert.equal(batched.rows.flatMap((r) => r.payload).length, 40);
  // A label-only change renders nothing new.
  await t.db.pool.query(`delete from graphile_worker._private_jobs`);
  await devices().patchDevice({
    name: "r0",
    patch: [{ op: "add", path: "/metadata/labels/x", value: { kind: { case: "stringValue", value: "y" } } }],
  });
  const after = (await t.db.pool.query(`select key from graphile_worker._private_jobs`)).rows.map((r) => r.key as string);
  assert.deepEqual(after, [`fleet-selection:${ORG}`], "a label change may change the owner, but renders nothing");
});

test("rendering: one inline provider, version bumps only on change, notifications at commit", async () => {
  const tasks = createDeviceTasks(db);
  const renders = createRenderStore(db);
  const notifier = await startRenderNotifier(t.db.url, pino({ level: "silent" }));
  const heard: (number | undefined)[] = [];
  const off = notifier.subscribe(ORG, "r1", (v) => heard.push(v));
  try {
    await putDevice("r1", {
      config: [
        { name: "a", inline: [{ path: "/etc/a", content: "1" }] },
        { name: "b", inline: [{ path: "/etc/b", content: "from b" }] },
      ],
    });
    await tasks.render(ORG, "r1");
    const first = (await renders.get(ORG, "r1"))!;
    assert.equal(first.renderedVersion, 1);
    assert.deepEqual(first.spec.config, [
      {
        name: "rendered-config",
        inline: [
          { path: "/etc/a", content: "1" },
          { path: "/etc/b", content: "from b" },
        ],
      },
    ]);
    await tasks.render(ORG, "r1");
    assert.equal((await renders.get(ORG, "r1"))!.renderedVersion, 1, "an identical render keeps its version");
    await putDevice("r1", { config: [{ name: "a", inline: [{ path: "/etc/a", content: "2" }] }] });
    await tasks.render(ORG, "r1");
    assert.equal((await renders.get(ORG, "r1"))!.renderedVersion, 2);
    for (let i = 0; i < 50 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(heard, [1, 2]);
  } finally {
    off();
    await notifier.close();
  }
});

test("a spec that cannot be rendered is SpecValid=False with DeviceSpecInvalid, and recovers", async () => {
  const tasks = createDeviceTasks(db);
  await putDevice("r2", { config: [{ name: "g", gitRef: { repository: "repo", targetRevision: "main", path: "/x" } }] });
  await tasks.render(ORG, "r2");
  let d = await devices().getDevice({ name: "r2" });
  const c = d.status?.conditions.find((x) => x.type === "SpecValid");
  assert.equal(c?.status, "False");
  assert.match(c!.message!, /spec\.config\[0\] \(g\): gitRef config providers cannot be rendered yet/);
  assert.equal(await createRenderStore(db).get(ORG, "r2"), undefined);
  await putDevice("r2", {});
  await tasks.render(ORG, "r2");
  d = await devices().getDevice({ name: "r2" });
  assert.equal(d.status?.conditions.find((x) => x.type === "SpecValid")?.status, "True");
  assert.deepEqual(
    (await events("r2")).filter((r) => r.startsWith("DeviceSpec")),
    ["DeviceSpecInvalid", "DeviceSpecValid"],
  );
});

test("a render keeps what was written to the device while its providers were resolved (it locks, then re-reads only moved rows)", async () => {
  // The resolver runs between the render's first read and its row locks: a report written then must survive the
  // render's own write (its status fields and annotations), and the render's marks must land beside it.
  const spec = { config: [{ name: "g", gitRef: { repository: "repo", targetRevision: "main", path: "/x" } }] };
  const write = (name: string) =>
    t.db.pool.query(
      `update devices set annotations = annotations || '{"meanwhile":"yes"}'::jsonb,
         status = coalesce(status, '{}'::jsonb) || '{"summary":{"status":"Online"},"config":{"renderedVersion":"0"}}'::jsonb,
         resource_version = flightctl_next_version()
       where org_id = $1 and name = $2`,
      [ORG, name],
    );
  const tasks = createDeviceTasks(db, {
    resolvers: {
      gitRef: async (_p, ctx) => {
        if (ctx.device === "rw-moved") await write(ctx.device);
        return [{ path: "/etc/x", content: "x" }];
      },
    },
  });
  await putDevice("rw-moved", spec);
  await putDevice("rw-still", spec);
  await tasks.renderMany(ORG, ["rw-moved", "rw-still"]);
  const moved = await devices().getDevice({ name: "rw-moved" });
  assert.equal(moved.metadata?.annotations.meanwhile, "yes", "the annotation written meanwhile is kept");
  assert.equal(moved.status?.summary?.status, "Online", "the status written meanwhile is kept");
  assert.equal(moved.status?.updated?.status, "OutOfDate", "and the render marked it on the fresh row");
  assert.deepEqual(
    (await events("rw-moved")).filter((r) => r === "DeviceContentOutOfDate"),
    ["DeviceContentOutOfDate"],
  );
  const still = await devices().getDevice({ name: "rw-still" });
  assert.equal(still.metadata?.annotations.meanwhile, undefined);
  assert.equal((await createRenderStore(db).get(ORG, "rw-still"))?.renderedVersion, 1);
  assert.equal((await createRenderStore(db).get(ORG, "rw-moved"))?.renderedVersion, 1);
});

test("the disconnect sweep marks silent devices Unknown; a report brings them back", async () => {
  const tasks = createDeviceTasks(db);
  const lastSeen = createLastSeenRecorder(db, pino({ level: "silent" }), { flushMs: 60_000 });
  const notifier = await startRenderNotifier(t.db.url, pino({ level: "silent" }));
  const agent = createDeviceAgentService({ db, lastSeen, notifier });
  const caller = { orgId: ORG, identity: { kind: "device" as const, actor: "device:r3", username: "r3", deviceName: "r3", orgId: ORG } };
  try {
    await putDevice("r3", {});
    await tasks.render(ORG, "r3");
    const report = () =>
      agent.replaceStatus(
        caller,
        "r3",
        create(DeviceSchema, { status: { summary: { status: "Online" }, config: { renderedVersion: "1" }, applications: [] } }),
      );
    let d = await report();
    assert.equal(d.status?.summary?.status, "Online");
    assert.equal(d.status?.updated?.status, "UpToDate");
    await lastSeen.flush();
    // Six minutes of silence.
    await t.db.pool.query(`update device_last_seen set last_seen = now() - interval '6 minutes' where name = 'r3'`);
    assert.equal(await tasks.sweep(), 1);
    assert.equal(await tasks.sweep(), 0, "a second sweep changes nothing");
    d = await devices().getDevice({ name: "r3" });
    assert.deepEqual(
      [d.status?.summary?.status, d.status?.updated?.status, d.status?.applicationsSummary?.status],
      ["Unknown", "Unknown", "Unknown"],
    );
    d = await report();
    assert.equal(d.status?.summary?.status, "Online");
    const reasons = await events("r3");
    assert.ok(reasons.indexOf("DeviceDisconnected") < reasons.lastIndexOf("DeviceConnected"), reasons.join(","));
    // An unchanged report writes nothing (only lastSeen).
    const before = (await devices().getDevice({ name: "r3" })).metadata?.resourceVersion;
    await report();
    assert.equal((await devices().getDevice({ name: "r3" })).metadata?.resourceVersion, before);
  } finally {
    await lastSeen.close();
    await notifier.close();
  }
});
