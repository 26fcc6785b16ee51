// Batch jobs against the real graphile-worker: a batch that fails after a newer add_job took its key (graphile-worker
// then gives the running job no more retries) queues its own items again instead of dropping them; a batch that fails
// with its key still its own is retried by graphile-worker as usual. A job locked for a live runner that never received
// it (get_job's answer lost with the connection) is handed back, and its queue moves on.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import type { TaskList } from "graphile-worker";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { jobDrainer } from "./helpers/jobs.js";
import { batchTask } from "../server/jobs/batch-task.js";
import { addJob as enqueue } from "../server/jobs/queue-store.js";
import { startJobRunner } from "../server/jobs/runner.js";
import type { TaskHandlers } from "../server/jobs/catalog.js";
import { createLogger } from "../lib/logger.js";
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

test("a job locked for a live runner that never received it is handed back; its queue moves on", async () => {
  const seen: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const probe = async (payload: unknown) => {
    const n = (payload as { n: string }).n;
    seen.push(n);
    if (n === "long") await gate;
  };
  // Short stale threshold: the runner beats every 500 ms, an unrefreshed lock is handed back after 2 s.
  const runner = await startJobRunner({
    pool: tdb.pool,
    log: createLogger("jobs-test", "silent"),
    tasks: { lock_probe: probe } as unknown as TaskHandlers,
    pollInterval: 100,
    staleLockSeconds: 2,
  });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const waitFor = async (what: string, fn: () => Promise<boolean> | boolean, ms = 15_000) => {
    const end = Date.now() + ms;
    while (!(await fn())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await sleep(50);
    }
  };
  try {
    // A long job the runner really runs (its lock must be kept fresh past the threshold, never handed back).
    await runner.current.addJob("lock_probe", { n: "long" });
    await waitFor("long job running", () => seen.includes("long"));
    const mine = (await tdb.pool.query("select locked_by from graphile_worker._private_jobs where locked_by is not null")).rows[0]
      .locked_by as string;
    // The orphan: a job of queue q, locked (with its queue) for this live runner as get_job would have, whose answer
    // never arrived. Then a second job of the same queue, which cannot run while the queue is locked.
    await runner.current.addJob("lock_probe", { n: "orphan" }, { queueName: "q", runAt: new Date(Date.now() + 3_600_000) });
    await tdb.pool.query(
      `with j as (update graphile_worker._private_jobs set locked_by = $1, locked_at = now(), run_at = now()
          where payload->>'n' = 'orphan' returning job_queue_id)
       update graphile_worker._private_job_queues set locked_by = $1, locked_at = now() where id in (select job_queue_id from j)`,
      [mine],
    );
    await runner.current.addJob("lock_probe", { n: "next" }, { queueName: "q" });
    await waitFor("the orphan and the next job of its queue ran", () => seen.includes("orphan") && seen.includes("next"));
    assert.equal(seen.filter((n) => n === "long").length, 1, "the live job's lock was kept: it did not run twice");
  } finally {
    release();
    await runner.stop();
  }
});

test("a job whose retries add_job took (its key moved while it ran) runs again when its dead runner's lock is handed back", async () => {
  const seen: string[] = [];
  const runner = await startJobRunner({
    pool: tdb.pool,
    log: createLogger("jobs-test", "silent"),
    tasks: { moved_probe: async (payload: unknown) => void seen.push((payload as { n: string }).n) } as unknown as TaskHandlers,
    pollInterval: 100,
    staleLockSeconds: 2,
  });
  try {
    // As the database holds it when a runner dies mid-run after a newer add_job took the job's key: locked by a runner
    // that no longer beats, no key, attempts = max_attempts (graphile-worker's add_job takes a locked job's retries).
    await runner.current.addJob("moved_probe", { n: "moved" }, { runAt: new Date(Date.now() + 3_600_000) });
    await tdb.pool.query(
      `update graphile_worker._private_jobs set locked_by = 'dead-runner', locked_at = now() - interval '1 hour',
          attempts = max_attempts, key = null, run_at = now() where payload->>'n' = 'moved'`,
    );
    const end = Date.now() + 15_000;
    while (!seen.includes("moved") && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, ["moved"], "the handed-back job ran once more");
  } finally {
    await runner.stop();
  }
});
