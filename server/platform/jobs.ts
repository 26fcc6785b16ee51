// Background jobs on graphile-worker, enqueued with SQL inside the transaction of the write that causes them (so a
// rolled-back write leaves no job, and a committed one always has its job). A job key debounces: enqueueing the same
// key again before it runs replaces the pending job instead of adding one.
import { sql } from "drizzle-orm";
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
export async function enqueue(tx: Executor, task: string, payload: Record<string, unknown> | unknown[], opts: EnqueueOptions = {}): Promise<void> {
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
