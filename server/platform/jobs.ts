// Background jobs on graphile-worker, enqueued with SQL inside the transaction of the write that causes them (so a
// rolled-back write leaves no job, and a committed one always has its job). A job key debounces: enqueueing the same
// key again before it runs replaces the pending job instead of adding one.
import { sql } from "drizzle-orm";
import type { JobHelpers, Task } from "graphile-worker";
import type { Executor } from "./resource/resource-store.js";

export interface EnqueueOptions {
  /** Debounce key, e.g. "render:<org>/<device>". */
  jobKey?: string;
  /** Seconds to wait before running (lets a burst of writes coalesce). */
  delaySeconds?: number;
  maxAttempts?: number;
  /** Jobs of one named queue run one at a time, in order. */
  queueName?: string;
}

/**
 * Adds a job in `tx`'s transaction. An array payload makes a batch job: graphile-worker appends it to the pending
 * job with the same key.
 */
export async function enqueue(
  tx: Executor,
  task: string,
  payload: Record<string, unknown> | unknown[],
  opts: EnqueueOptions = {},
): Promise<void> {
  const runAt = opts.delaySeconds ? sql`now() + make_interval(secs => ${opts.delaySeconds})` : sql`now()`;
  // add_job returns no job when a worker locked the keyed job between add_job's two steps (its key-clearing step
  // and its insert-or-merge, which skips locked jobs): the request would be lost. A second call sees the lock,
  // takes the key off the running job and inserts a new one.
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await tx.execute(sql`select (graphile_worker.add_job(${task}, ${JSON.stringify(payload)}::json,
      run_at => ${runAt}, max_attempts => ${opts.maxAttempts ?? 10}, job_key => ${opts.jobKey ?? null},
      queue_name => ${opts.queueName ?? null})).id as id`);
    if ((r.rows[0] as { id: string | null }).id !== null) return;
  }
  throw new Error(`could not enqueue ${task} (key ${opts.jobKey}): its job stayed locked`);
}

/** Task names, shared by the enqueuers and the worker. */
export const TASK_DISCONNECT_SWEEP = "disconnect_sweep";

/**
 * A batch task (array payload merged under a job key) that loses nothing when it fails after its key was taken.
 * graphile-worker's add_job, finding the keyed job running, moves the key to a new job that holds only the new items,
 * and marks the running job as out of retries. A batch that then fails would drop its own items for good (seen at
 * 10,000 devices: a render batch hit a deadlock while a rollout queued more renders, and 142 devices were never
 * rendered). Here such a batch queues its items again under its key, with graphile-worker's backoff; any other failure
 * is left to graphile-worker's retries. (Not for jobs in a named queue: none of the batch jobs uses one.)
 */
export function batchTask<T>(db: Executor, task: string, run: (items: T[], helpers: JobHelpers) => Promise<void>): Task {
  return async (payload, helpers) => {
    const items = (Array.isArray(payload) ? payload : [payload]) as T[];
    try {
      await run(items, helpers);
    } catch (e) {
      const { id, key, attempts, max_attempts: maxAttempts } = helpers.job;
      if (!key || attempts >= maxAttempts) throw e;
      const r = await db.execute(sql`select key from graphile_worker._private_jobs where id = ${id}`);
      if ((r.rows[0] as { key: string | null } | undefined)?.key === key) throw e;
      await enqueue(db, task, items, { jobKey: key, delaySeconds: Math.min(3600, Math.exp(attempts)), maxAttempts });
      helpers.logger.error(
        `batch job ${id} (${task}) failed after its key moved to a newer job; its ${items.length} item(s) are queued again: ${String(e)}`,
      );
    }
  };
}
