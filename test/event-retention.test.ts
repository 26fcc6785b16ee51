// Event retention (docs/operations.md): the event_cleanup job deletes exactly the events and console sessions older
// than their retention, in batches of the configured size; a row created exactly at the cutoff stays.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import type { TaskList } from "graphile-worker";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { jobDrainer } from "./helpers/jobs.js";
import { createDb } from "../server/platform/db.js";
import { createEventCleanupTasks } from "../server/events/event-cleanup-tasks.js";
import { addJob } from "../server/jobs/queue-store.js";
import { loadConfig } from "../server/config.js";
import { DEFAULT_ORG_ID } from "../db/schema/organizations.js";

const DAY = 86_400_000;
let tdb: TestDatabase;
let tasks: TaskList = {};
const drainer = jobDrainer(
  () => tdb.url,
  () => tasks,
);

before(async () => {
  tdb = await createTestDatabase();
});
after(async () => {
  await drainer.close();
  await tdb.drop();
  await assertNoOpenHandles();
});

/** Inserts one event per creation time; returns their reasons (unique) in the same order. */
async function insertEvents(times: Date[]): Promise<string[]> {
  const reasons = times.map((_, i) => `R${i}-${randomUUID().slice(0, 8)}`);
  for (const [i, at] of times.entries())
    await tdb.pool.query(
      `insert into events (org_id, created_at, reason, type, involved_kind, involved_name, actor, message, source_component)
       values ($1, $2, $3, 'Normal', 'Device', 'd', 'user:t', 'm', 'test')`,
      [DEFAULT_ORG_ID, at.toISOString(), reasons[i]],
    );
  return reasons;
}

async function remainingReasons(): Promise<Set<string>> {
  const { rows } = await tdb.pool.query<{ reason: string }>("select reason from events");
  return new Set(rows.map((r) => r.reason));
}

async function insertSession(at: Date): Promise<string> {
  const id = randomUUID();
  await tdb.pool.query(
    `insert into console_sessions (id, org_id, device, actor, metadata, created_at) values ($1, $2, 'd', 'user:t', '{}'::jsonb, $3)`,
    [id, DEFAULT_ORG_ID, at.toISOString()],
  );
  return id;
}

test("cleanup deletes exactly the events and sessions older than the retention, the cutoff itself kept", async () => {
  await tdb.pool.query("delete from events");
  const now = new Date("2026-06-01T12:00:00.000Z");
  const cutoff = new Date(now.getTime() - 7 * DAY);
  const old = [
    new Date(cutoff.getTime() - 30 * DAY),
    new Date(cutoff.getTime() - 1),
    ...Array.from({ length: 23 }, (_, i) => new Date(cutoff.getTime() - (i + 2) * 60_000)),
  ];
  const kept = [cutoff, new Date(cutoff.getTime() + 1), new Date(now.getTime() - DAY), now];
  const oldReasons = await insertEvents(old);
  const keptReasons = await insertEvents(kept);
  const consoleCutoff = new Date(now.getTime() - 30 * DAY);
  const oldSession = await insertSession(new Date(consoleCutoff.getTime() - 1));
  const keptSession = await insertSession(consoleCutoff);
  const youngerThanConsole = await insertSession(new Date(now.getTime() - 10 * DAY));

  // A batch of 4: 25 expired events take 7 statements (the last one finds fewer than 4).
  const { cleanup } = createEventCleanupTasks(createDb(tdb.pool), { eventsMs: 7 * DAY, consoleMs: 30 * DAY, batchSize: 4 });
  const r = await cleanup(now);
  assert.equal(r.events.deleted, old.length);
  assert.equal(r.events.batches, Math.ceil((old.length + 1) / 4));
  const left = await remainingReasons();
  for (const k of keptReasons) assert.ok(left.has(k), `event ${k} (not expired) was deleted`);
  for (const o of oldReasons) assert.ok(!left.has(o), `event ${o} (expired) was kept`);
  assert.equal(left.size, kept.length);

  assert.equal(r.consoleSessions.deleted, 1);
  const { rows } = await tdb.pool.query<{ id: string }>("select id from console_sessions");
  assert.deepEqual(new Set(rows.map((x) => x.id)), new Set([keptSession, youngerThanConsole]));
  assert.ok(!rows.some((x) => x.id === oldSession));

  // Nothing left to delete: one statement, nothing removed.
  const again = await cleanup(now);
  assert.equal(again.events.deleted, 0);
  assert.equal(again.events.batches, 1);
});

test("the event_cleanup job, queued as the crontab queues it, applies the configured retention", async () => {
  await tdb.pool.query("delete from events");
  const now = Date.now();
  const [expired, fresh] = await insertEvents([new Date(now - 8 * DAY), new Date(now - 6 * DAY)]);
  // The default retention (7 days) from the configuration, as flightctl-periodic reads it.
  const settings = loadConfig({}).worker.retention;
  assert.equal(settings.eventsMs, 7 * DAY);
  tasks = createEventCleanupTasks(createDb(tdb.pool), settings).tasks as TaskList;
  await addJob(createDb(tdb.pool), "event_cleanup", {});
  await drainer.drain();
  const left = await remainingReasons();
  assert.ok(left.has(fresh), "a 6-day-old event was deleted");
  assert.ok(!left.has(expired), "an 8-day-old event was kept");
});

test("FLIGHTCTL_EVENT_RETENTION_DAYS and FLIGHTCTL_RETENTION_BATCH_SIZE are read, bad values refused by name", () => {
  const r = loadConfig({ FLIGHTCTL_EVENT_RETENTION_DAYS: "1.5", FLIGHTCTL_RETENTION_BATCH_SIZE: "100" }).worker.retention;
  assert.equal(r.eventsMs, 1.5 * DAY);
  assert.equal(r.batchSize, 100);
  assert.throws(() => loadConfig({ FLIGHTCTL_EVENT_RETENTION_DAYS: "0" }), /FLIGHTCTL_EVENT_RETENTION_DAYS/);
  assert.throws(() => loadConfig({ FLIGHTCTL_RETENTION_BATCH_SIZE: "2.5" }), /FLIGHTCTL_RETENTION_BATCH_SIZE/);
});
