// graphile-worker runners: the worker executes tasks; the periodic runner also schedules the crontab (graphile-worker
// coordinates crontabs across runners, so several copies schedule each slot once).
import { EventEmitter } from "node:events";
import { run, Logger, type Runner, type TaskList, type WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";

export interface JobRunnerOptions {
  pool: Pool;
  log: Pino;
  tasks: TaskList;
  /** graphile-worker crontab lines, e.g. "*\/2 * * * * disconnect_sweep ?jobKey=disconnect_sweep". */
  crontab?: string[];
  concurrency?: number;
  /** How often to poll when no notification arrived, ms (default 2000). */
  pollInterval?: number;
}

/** graphile-worker's log lines go to our logger (at debug for its chatter). */
function bridge(log: Pino): Logger {
  return new Logger(() => (level, message, meta) => {
    const fn = level === "error" ? log.error.bind(log) : level === "warning" ? log.warn.bind(log) : log.debug.bind(log);
    fn(meta ?? {}, message);
  });
}

/**
 * Jobs whose worker died (killed, crashed, lost its host) stay locked; graphile-worker frees them only after 4 hours.
 * Each live runner refreshes `locked_at` on what it holds (`heartbeatLocks`), so a lock older than `olderThanSeconds`
 * belongs to a runner that stopped beating: it is handed back and its job runs again (every task is idempotent).
 * Age alone is not enough: a live runner's long job would be stolen and run twice at once.
 */
export async function unlockStaleJobs(pool: Pool, olderThanSeconds: number): Promise<void> {
  await pool.query(
    `select graphile_worker.force_unlock_workers(array_agg(distinct locked_by)) from (
        select locked_by from graphile_worker._private_jobs where locked_by is not null and locked_at < now() - make_interval(secs => $1)
        union
        select locked_by from graphile_worker._private_job_queues where locked_by is not null and locked_at < now() - make_interval(secs => $1)
      ) stale having count(*) > 0`,
    [olderThanSeconds],
  );
}

/** Marks every job and queue this runner (graphile-worker's pool id) holds as still held. */
export async function heartbeatLocks(pool: Pool, poolId: string): Promise<void> {
  await pool.query(
    `with j as (update graphile_worker._private_jobs set locked_at = now() where locked_by = $1)
     update graphile_worker._private_job_queues set locked_at = now() where locked_by = $1`,
    [poolId],
  );
}

export async function startJobRunner(opts: JobRunnerOptions & { staleLockSeconds?: number }): Promise<Runner> {
  const stale = opts.staleLockSeconds ?? 300;
  await unlockStaleJobs(opts.pool, stale);
  // graphile-worker locks with one id per runner (its worker pool); it is announced before any job is taken.
  const events = new EventEmitter() as WorkerEvents;
  let poolId: string | undefined;
  events.on("pool:create", ({ workerPool }) => (poolId = workerPool.id));
  // Beat several times per threshold so a busy event loop or a slow query does not look like death.
  const timer = setInterval(
    () => {
      const beat = poolId ? heartbeatLocks(opts.pool, poolId) : Promise.resolve();
      beat.then(() => unlockStaleJobs(opts.pool, stale)).catch((err) => opts.log.warn({ err }, "could not refresh or hand back job locks"));
    },
    Math.min(30_000, Math.max(250, (stale * 1000) / 4)),
  );
  timer.unref();
  const runner = await run({
    pgPool: opts.pool,
    taskList: opts.tasks,
    crontab: opts.crontab?.join("\n"),
    concurrency: opts.concurrency ?? 4,
    pollInterval: opts.pollInterval ?? 2000,
    noHandleSignals: true,
    logger: bridge(opts.log),
    events,
  });
  runner.promise.finally(() => clearInterval(timer)).catch(() => {});
  return runner;
}

/** The periodic schedule (flightctl-periodic): disconnect sweep every 2 minutes, as flightctl checks. */
export const PERIODIC_CRONTAB = [
  "*/2 * * * * disconnect_sweep ?jobKey=disconnect_sweep&max=1",
  "* * * * * fleet_rollout_sweep ?jobKey=fleet_rollout_sweep&max=1",
  // The repository tester: every repository of every organization, every 2 minutes as flightctl.
  "*/2 * * * * repository_test ?jobKey=repository_test&max=1",
  // Every ResourceSync of every organization, every 2 minutes as flightctl (a push webhook can call SyncResourceSync).
  "*/2 * * * * resourcesync_poll ?jobKey=resourcesync_poll&max=1",
  // The dependency sync: new commits on the branches and tags fleets and standalone devices read, every 2 minutes
  // (flightctl looks every 3); one ls-remote per repository and revision, however many read it.
  "*/2 * * * * dependency_sync_poll ?jobKey=dependency_sync_poll&max=1",
];
