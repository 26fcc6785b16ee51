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
}

/** Adds a job in `tx`'s transaction. */
export async function enqueue(tx: Executor, task: string, payload: Record<string, unknown>, opts: EnqueueOptions = {}): Promise<void> {
  const runAt = opts.delaySeconds ? sql`now() + make_interval(secs => ${opts.delaySeconds})` : sql`now()`;
  await tx.execute(sql`select graphile_worker.add_job(${task}, ${JSON.stringify(payload)}::json,
    run_at => ${runAt}, max_attempts => ${opts.maxAttempts ?? 10}, job_key => ${opts.jobKey ?? null})`);
}

/** Task names, shared by the enqueuers and the worker. */
export const TASK_RENDER_DEVICE = "render_device";
export const TASK_DISCONNECT_SWEEP = "disconnect_sweep";
