// The gateway's device directory on a real database: a known device stays answered from the cache after its ttl while
// one read refreshes it behind (an export every minute must not cost a query each), a deleted device is refused from
// the export after that refresh, and an unknown device is looked up every time.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createTestDatabase, type TestDatabase } from "../../test/helpers/db.js";
import { deviceKind } from "../devices/device-service.js";
import { createDb } from "../platform/db.js";
import { DEFAULT_ORG_ID } from "../platform/identity.js";
import { kindStore } from "../platform/resource/kind.js";
import { createDeviceDirectory } from "./device-directory.js";

let tdb: TestDatabase;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const event = (name: string) => ({
  reason: "ResourceCreated",
  type: "Normal" as const,
  message: "test",
  actor: "user:test",
  involvedObject: { kind: "Device", name },
  sourceComponent: "test",
});

/** The test database, counting the statements run through it. */
function countingDb() {
  const counted = {
    reads: 0,
    db: createDb({
      query: (...args: unknown[]) => {
        counted.reads++;
        return (tdb.pool.query as (...a: unknown[]) => unknown)(...args);
      },
      connect: () => tdb.pool.connect(),
    } as unknown as typeof tdb.pool),
  };
  return counted;
}

before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await tdb.drop();
});

test("stale entries are answered at once and refreshed behind; a deleted device is refused after the refresh", async () => {
  const db = createDb(tdb.pool);
  const devices = kindStore(deviceKind, db);
  await devices.create(
    { orgId: DEFAULT_ORG_ID, name: "d1" },
    { labels: {}, annotations: {}, owner: "Fleet/edge", generation: 1, spec: {}, status: {} },
    event("d1"),
  );
  // Counts the directory's reads (queries on the pool while it works).
  const counted = countingDb();
  const dir = createDeviceDirectory(counted.db, 100);
  assert.deepEqual(await dir.lookup(DEFAULT_ORG_ID, "d1"), { fleet: "edge" });
  const first = counted.reads;
  assert.ok(first > 0);
  assert.deepEqual(await dir.lookup(DEFAULT_ORG_ID, "d1"), { fleet: "edge" });
  assert.equal(counted.reads, first, "fresh: no query");

  await devices.delete({ orgId: DEFAULT_ORG_ID, name: "d1" }, () => ({ ...event("d1"), reason: "ResourceDeleted" }));
  await sleep(150);
  // Expired: answered from the cache (no wait on the database), while one read refreshes it.
  assert.deepEqual(await dir.lookup(DEFAULT_ORG_ID, "d1"), { fleet: "edge" });
  await sleep(100);
  assert.ok(counted.reads > first, "the stale entry was refreshed behind");
  assert.equal(await dir.lookup(DEFAULT_ORG_ID, "d1"), undefined, "deleted: refused once the refresh saw it");
  // Unknown devices are never answered from a stale entry.
  const before = counted.reads;
  await sleep(150);
  assert.equal(await dir.lookup(DEFAULT_ORG_ID, "d1"), undefined);
  assert.ok(counted.reads > before, "an absent device is looked up again after its (shorter) ttl");
});

test("devices looked up at once are read in one statement, present and absent ones alike", async () => {
  const db = createDb(tdb.pool);
  const devices = kindStore(deviceKind, db);
  const names = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
  for (const [i, name] of names.entries()) {
    await devices.create(
      { orgId: DEFAULT_ORG_ID, name },
      { labels: {}, annotations: {}, owner: i % 2 ? "Fleet/odd" : null, generation: 1, spec: {}, status: {} },
      event(name),
    );
  }
  const counted = countingDb();
  const dir = createDeviceDirectory(counted.db);
  // A burst of devices connecting: 20 enrolled, 20 unknown, and one asked twice.
  const asked = [...names, ...names.map((n) => `${n}-unknown`), names[0]];
  const answers = await Promise.all(asked.map((n) => dir.lookup(DEFAULT_ORG_ID, n)));
  assert.equal(counted.reads, 1, "one statement for the whole burst");
  assert.deepEqual(answers.slice(0, 2), [{ fleet: undefined }, { fleet: "odd" }]);
  assert.ok(answers.slice(20, 40).every((a) => a === undefined));
  assert.deepEqual(answers[40], { fleet: undefined });
  // Another organization's device of the same name is not this one.
  assert.equal(await dir.lookup("7c1e6a52-0000-4000-8000-00000000beef", names[1]), undefined);
});
