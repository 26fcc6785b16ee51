// The job queue's store: every statement on graphile-worker's tables and functions. Jobs are added with SQL inside the
// transaction of the write that causes them (so a rolled-back write leaves no job, and a committed one always has its
// job). A job key debounces: adding the same key again before it runs replaces the pending job instead of adding one.
import { sql } from "drizzle-orm";
import type { Pool } from "pg";
import type { Executor } from "../platform/resource/resource-store.js";

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
 * Adds a job of any task name in `tx`'s transaction (the catalog-typed `enqueue` is the way in for the server's own
 * tasks). An array payload makes a batch job: graphile-worker appends it to the pending job with the same key.
 */
export async function addJob(tx: Executor, task: string, payload: unknown, opts: EnqueueOptions = {}): Promise<void> {
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

/** The job key job `id` holds now (null when add_job moved it to a newer job, or the job is gone). */
export async function currentJobKey(exec: Executor, id: string): Promise<string | null> {
  const r = await exec.execute(sql`select key from graphile_worker._private_jobs where id = ${id}`);
  return (r.rows[0] as { key: string | null } | undefined)?.key ?? null;
}

/** Whether a job of `task` whose payload contains `fragment` (jsonb containment) waits or runs. */
export async function hasPendingJob(exec: Executor, task: string, fragment: unknown): Promise<boolean> {
  const r = await exec.execute(sql`select 1 from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    where t.identifier = ${task} and j.payload::jsonb @> ${JSON.stringify(fragment)}::jsonb limit 1`);
  return r.rows.length > 0;
}

/**
 * What a job handed back gets: no lock, and at least one attempt left. A job's outcome was never recorded when its lock
 * is handed back, and add_job takes every retry from a keyed job it finds locked (attempts = max_attempts, key moved to
 * a newer job): handed back as is, such a job would never run again, and a batch's items would be lost with it (seen
 * when Postgres stopped under a rollout: 85 devices never rendered). Every task is idempotent, so one more run is safe.
 */
const HAND_BACK = "locked_by = null, locked_at = null, attempts = least(attempts, greatest(max_attempts - 1, 0))";

/**
 * Hands back the jobs and queues whose locks are older than `olderThanSeconds` (live runners refresh the locks of the
 * jobs they run with `heartbeatLocks`), so those jobs run again. Lock by lock, not by runner: a live runner's other
 * jobs keep theirs.
 */
export async function unlockStaleJobs(pool: Pool, olderThanSeconds: number): Promise<void> {
  await pool.query(
    `with j as (update graphile_worker._private_jobs set ${HAND_BACK}
        where locked_by is not null and locked_at < now() - make_interval(secs => $1))
     update graphile_worker._private_job_queues set locked_by = null, locked_at = null
        where locked_by is not null and locked_at < now() - make_interval(secs => $1)`,
    [olderThanSeconds],
  );
}

/** Marks the jobs a runner (graphile-worker's pool id) runs, and their queues, as still held. */
export async function heartbeatLocks(pool: Pool, poolId: string, jobIds: string[], queueIds: number[]): Promise<void> {
  if (jobIds.length === 0) return;
  await pool.query(
    `with j as (update graphile_worker._private_jobs set locked_at = now() where locked_by = $1 and id = any($2::bigint[]))
     update graphile_worker._private_job_queues set locked_at = now() where locked_by = $1 and id = any($3::int[])`,
    [poolId, jobIds, queueIds],
  );
}

/**
 * Hands back at once every job and queue held by runners known to be dead (graphile-worker pool ids); as
 * graphile-worker's force_unlock_workers, but each job keeps an attempt (HAND_BACK).
 */
export async function unlockWorkers(pool: Pool, poolIds: string[]): Promise<void> {
  await pool.query(
    `with j as (update graphile_worker._private_jobs set ${HAND_BACK} where locked_by = any($1::text[]))
     update graphile_worker._private_job_queues set locked_by = null, locked_at = null where locked_by = any($1::text[])`,
    [poolIds],
  );
}

/**
 * Jobs due and waiting for a runner, per task (the service metrics' queue depth). graphile-worker's partial index on
 * available jobs serves it: the jobs already run or failed for good are not read.
 */
export async function queueDepthByTask(exec: Executor): Promise<{ task: string; count: number }[]> {
  const r = await exec.execute<{ task: string; n: number }>(sql`select t.identifier as task, count(*)::int as n
    from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    where j.is_available and j.run_at <= now() group by 1`);
  return r.rows.map((row) => ({ task: row.task, count: row.n }));
}
