// Batch jobs against the real graphile-worker: a batch that fails after a newer add_job took its key (graphile-worker
// then gives the running job no more retries) queues its own items again instead of dropping them; a batch that fails
// with its key still its own is retried by graphile-worker as usual.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import type { TaskList } from "graphile-worker";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { jobDrainer } from "./helpers/jobs.js";
import { batchTask } from "../server/jobs/batch-task.js";
import { addJob as enqueue } from "../server/jobs/queue-store.js";
import type { Db } from "../server/platform/resource/resource-store.js";

let tdb: TestDatabase;
let db: Db;
let tasks: TaskList = {};
const drainer = jobDrainer(
  () => tdb.url,
  () => tasks,
);

before(async () => {
  tdb = await createTestDatabase();
  db = drizzle(tdb.pool) as unknown as Db;
});
after(async () => {
  await drainer.close();
  await tdb.drop();
  await assertNoOpenHandles();
});

/**
 * Makes every waiting job due now (retries and re-queued batches wait seconds to minutes). A failed attempt is
 * recorded (unlocked, run_at moved by the backoff) a moment after runOnce returns, so wait for no job to be locked
 * first: a job still locked would keep its backoff and not run in the next drain.
 */
async function dueNow() {
  for (let i = 0; i < 100; i++) {
    const locked = await tdb.pool.query(`select 1 from graphile_worker._private_jobs where locked_at is not null`);
    if (locked.rows.length === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await tdb.pool.query(`update graphile_worker._private_jobs set run_at = now() where locked_at is null`);
}
const jobs = async (task: string) =>
  (
    await tdb.pool.query(
      `select j.key, j.attempts, j.max_attempts, j.payload from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = $1`,
      [task],
    )
  ).rows;

test("a batch that fails after its key moved to a newer job queues its items again; nothing is lost", async () => {
  const done: number[] = [];
  let runs = 0;
  tasks = {
    batch: batchTask<{ n: number }>(db, "batch", async (items) => {
      runs++;
      if (runs === 1) {
        // While this batch runs, a writer queues more under the same key: graphile-worker moves the key to a new job
        // holding only the new item and takes this job's retries away. Then this batch fails.
        await enqueue(db, "batch", [{ n: 3 }], { jobKey: "batch-key" });
        throw new Error("deadlock detected (simulated)");
      }
      done.push(...items.map((i) => i.n));
    }),
  };
  await enqueue(db, "batch", [{ n: 1 }, { n: 2 }], { jobKey: "batch-key" });
  await drainer.drain();
  // The failed batch's items joined the newer job under the key (which now waits out the backoff), retries left.
  assert.deepEqual(done, []);
  const waiting = await jobs("batch");
  assert.equal(waiting.length, 1);
  assert.equal(waiting[0].key, "batch-key");
  assert.equal(waiting[0].attempts, 0);
  assert.deepEqual(waiting[0].payload.map((i: { n: number }) => i.n).sort(), [1, 2, 3]);
  await dueNow();
  await drainer.drain();
  assert.deepEqual(done.sort(), [1, 2, 3]);
  // graphile-worker may delete finished jobs a moment after runOnce returns.
  let left = await jobs("batch");
  for (let i = 0; i < 50 && left.length; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await jobs("batch");
  }
  assert.deepEqual(left, [], "no job left behind");
});

test("a batch that fails with its key still its own is left to graphile-worker's retries", async () => {
  let fail = true;
  const done: number[] = [];
  tasks = {
    batch2: batchTask<{ n: number }>(db, "batch2", async (items) => {
      if (fail) throw new Error("transient");
      done.push(...items.map((i) => i.n));
    }),
  };
  await enqueue(db, "batch2", [{ n: 7 }], { jobKey: "batch2-key" });
  await drainer.drain();
  const failed = await jobs("batch2");
  assert.equal(failed.length, 1);
  assert.equal(failed[0].attempts, 1, "graphile-worker counted the failed attempt (no copy was queued)");
  fail = false;
  await dueNow();
  await drainer.drain();
  assert.deepEqual(done, [7]);
});
