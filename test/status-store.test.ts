// The agent endpoint's status store coalesces concurrent reports into one read and one write statement: each report
// must still behave as its own compare-and-swap, with its events written only when its write won.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { createStatusStore } from "../server/devices/status-store.js";
import { createDb, type Db } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import type { NewEvent } from "../server/platform/event-store.js";
import type { JsonObject } from "@bufbuild/protobuf";

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
type Store = ReturnType<typeof createStatusStore>;
/** One report's write; whether its compare-and-swap won. */
const write = async (
  store: Store,
  name: string,
  expectedVersion: string,
  annotations: Record<string, string>,
  status: JsonObject,
  events: NewEvent[],
  renderedVersion?: number,
) => store.write({ orgId: ORG, name, expectedVersion, renderedVersion, annotations, status, events });
const event = (name: string, reason: string): NewEvent => ({
  reason,
  type: "Normal",
  message: reason,
  actor: "test",
  involvedObject: { kind: "Device", name },
  sourceComponent: "test",
});

test("concurrent reports of many devices: each read and written as its own, events only for the writes that won", async () => {
  const names = Array.from({ length: 120 }, (_, i) => `batch-${String(i).padStart(3, "0")}`);
  await t.db.pool.query(
    `insert into devices (org_id, name, labels, annotations, spec, status) select $1, n, '{"k":"v"}', '{"a":"b"}', '{}', '{"summary":{"status":"Unknown"}}' from unnest($2::text[]) n`,
    [ORG, names],
  );
  const store = createStatusStore(db);
  // Reads issued together (one batch) come back per device, a missing device as undefined.
  const read = await Promise.all([...names, "missing-device"].map((n) => store.read(ORG, n)));
  assert.equal(read[names.length], undefined);
  for (const r of read.slice(0, names.length)) {
    assert.deepEqual(r?.labels, { k: "v" });
    assert.deepEqual(r?.status, { summary: { status: "Unknown" } });
  }
  // Every device written at once, and a second write with the same (now stale) version for the first ten.
  const writes = await Promise.all([
    ...names.map((n, i) =>
      write(store, n, read[i]!.resourceVersion, { a: "c" }, { summary: { status: "Online" }, n }, [event(n, "DeviceConnected")]),
    ),
    ...names
      .slice(0, 10)
      .map((n, i) => write(store, n, read[i]!.resourceVersion, { a: "d" }, { summary: { status: "Error" } }, [event(n, "DeviceIsLost")])),
  ]);
  // Exactly one of two writes on the same version wins; every device got exactly one.
  for (let i = 0; i < 10; i++) assert.equal(Number(writes[i]) + Number(writes[names.length + i]), 1, `${names[i]}: one write wins`);
  assert.ok(writes.slice(10, names.length).every(Boolean));
  const rows = (await t.db.pool.query(`select name, status, annotations from devices where name like 'batch-%' order by name`)).rows;
  const ev = (await t.db.pool.query(`select involved_name, reason from events where involved_name like 'batch-%'`)).rows;
  for (const [i, row] of rows.entries()) {
    const firstWon = i >= 10 || writes[i];
    assert.deepEqual(row.status, firstWon ? { summary: { status: "Online" }, n: row.name } : { summary: { status: "Error" } });
    assert.deepEqual(row.annotations, { a: firstWon ? "c" : "d" });
    assert.deepEqual(
      ev.filter((e) => e.involved_name === row.name).map((e) => e.reason),
      [firstWon ? "DeviceConnected" : "DeviceIsLost"],
    );
  }
  // A write on a stale version afterwards loses and writes no event.
  assert.equal(await write(store, names[50], read[50]!.resourceVersion, {}, {}, [event(names[50], "Stale")]), false);
  assert.equal((await t.db.pool.query(`select count(*)::int n from events where reason = 'Stale'`)).rows[0].n, 0);
});

test("a batch of reports takes its row locks in name order, so it cannot deadlock with a writer that locks in name order", async () => {
  // lock-b first on disk too: a write that locked in the order its plan visits rows (a scan) would take lock-b first.
  await t.db.pool.query(`insert into devices (org_id, name, spec, status) values ($1, 'lock-b', '{}', '{}'), ($1, 'lock-a', '{}', '{}')`, [
    ORG,
  ]);
  const store = createStatusStore(db);
  const [b, a] = await Promise.all([store.read(ORG, "lock-b"), store.read(ORG, "lock-a")]);
  // A worker-like transaction holds lock-a and will take lock-b next (name order).
  const worker = await t.db.pool.connect();
  try {
    await worker.query("begin");
    await worker.query(`select 1 from devices where org_id = $1 and name = 'lock-a' for update`, [ORG]);
    // One batch naming lock-b before lock-a: locked in plan order it would hold lock-b while waiting for lock-a.
    const writes = Promise.all([
      write(store, "lock-b", b!.resourceVersion, {}, { summary: { status: "Online" } }, []),
      write(store, "lock-a", a!.resourceVersion, {}, { summary: { status: "Online" } }, []),
    ]);
    await new Promise((r) => setTimeout(r, 300));
    // Would be a deadlock (40P01, after deadlock_timeout) if the batch held lock-b.
    await worker.query(`select 1 from devices where org_id = $1 and name = 'lock-b' for update`, [ORG]);
    await worker.query("commit");
    assert.deepEqual(await writes, [true, true]);
  } finally {
    worker.release();
  }
  const rows = (await t.db.pool.query(`select name, status from devices where name like 'lock-%' order by name`)).rows;
  assert.deepEqual(
    rows.map((r) => r.status.summary.status),
    ["Online", "Online"],
  );
});

test("a report whose device another writer changes while the report waits for its row lock loses, without its event", async () => {
  await t.db.pool.query(`insert into devices (org_id, name, spec, status) values ($1, 'wait-a', '{}', '{}'), ($1, 'wait-b', '{}', '{}')`, [
    ORG,
  ]);
  const store = createStatusStore(db);
  const [a, b] = await Promise.all([store.read(ORG, "wait-a"), store.read(ORG, "wait-b")]);
  const other = await t.db.pool.connect();
  try {
    await other.query("begin");
    await other.query(
      `update devices set status = '{"by":"other"}', resource_version = flightctl_next_version() where org_id = $1 and name = 'wait-a'`,
      [ORG],
    );
    // The batch's statement starts before the other writer commits: it waits on wait-a's lock, then sees its new version.
    const writes = Promise.all([
      write(store, "wait-a", a!.resourceVersion, {}, { by: "report" }, [event("wait-a", "WaitLost")]),
      write(store, "wait-b", b!.resourceVersion, {}, { by: "report" }, [event("wait-b", "WaitWon")]),
    ]);
    await new Promise((r) => setTimeout(r, 300));
    await other.query("commit");
    assert.deepEqual(await writes, [false, true]);
  } finally {
    other.release();
  }
  const rows = (await t.db.pool.query(`select name, status from devices where name like 'wait-%' order by name`)).rows;
  assert.deepEqual(
    rows.map((r) => r.status.by),
    ["other", "report"],
  );
  const ev = (await t.db.pool.query(`select reason from events where involved_name like 'wait-%' order by reason`)).rows;
  assert.deepEqual(
    ev.map((e) => e.reason),
    ["WaitWon"],
  );
});

test("statuses and annotations with quotes, backslashes, braces and non-ASCII text are stored as reported", async () => {
  await t.db.pool.query(`insert into devices (org_id, name, spec, status) values ($1, 'odd "name" \\ {x}', '{}', '{}')`, [ORG]);
  const store = createStatusStore(db);
  const name = 'odd "name" \\ {x}';
  const current = await store.read(ORG, name);
  const status = { summary: { status: "Online", info: 'say "hi", \\path\\, {a,b}, NULL, ünïcödé ✓' }, empty: "", list: ["", "\n"] };
  const annotations = { 'k"1': "v\\1", "k,2": "{}" };
  assert.equal(await write(store, name, current!.resourceVersion, annotations, status, []), true);
  const row = (await t.db.pool.query(`select status, annotations from devices where org_id = $1 and name = $2`, [ORG, name])).rows[0];
  assert.deepEqual(row.status, status);
  assert.deepEqual(row.annotations, annotations);
});

test("a write loses when the device's render moved since its read", async () => {
  await t.db.pool.query(`insert into devices (org_id, name, spec, status) values ($1, 'render-cas', '{}', '{}')`, [ORG]);
  const store = createStatusStore(db);
  const first = await store.read(ORG, "render-cas");
  assert.equal(first?.renderedVersion, undefined);
  assert.equal(await write(store, "render-cas", first!.resourceVersion, {}, { n: 1 }, []), true);
  const version = (await store.read(ORG, "render-cas"))?.resourceVersion;
  // Rendered meanwhile, the device row untouched: a write computed without that render loses, one computed with it wins.
  await t.db.pool.query(
    `insert into device_renders (org_id, name, rendered_version, spec_hash, spec) values ($1, 'render-cas', 3, 'h', '{}')`,
    [ORG],
  );
  assert.equal(await write(store, "render-cas", version!, {}, { n: 2 }, [event("render-cas", "RenderLost")]), false);
  assert.equal(await write(store, "render-cas", version!, {}, { n: 3 }, [], 2), false);
  assert.equal(await write(store, "render-cas", version!, {}, { n: 4 }, [], 3), true);
  assert.deepEqual((await store.read(ORG, "render-cas"))?.status, { n: 4 });
  assert.equal((await t.db.pool.query(`select count(*)::int n from events where reason = 'RenderLost'`)).rows[0].n, 0);
});
