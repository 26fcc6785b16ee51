// graphile-worker runners: the worker executes tasks; the periodic runner also schedules the crontab (graphile-worker
// coordinates crontabs across runners, so several copies schedule each slot once).
import { run, Logger, type Runner, type TaskList } from "graphile-worker";
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
 * Every task here is idempotent, so a job locked for longer than any job runs (`olderThanSeconds`) is handed back to
 * the queue: at worst a slow job runs twice. Every worker checks at start and then periodically.
 */
export async function unlockStaleJobs(pool: Pool, olderThanSeconds: number): Promise<void> {
  await pool.query(
    `select graphile_worker.force_unlock_workers(array_agg(distinct locked_by)) from graphile_worker._private_jobs
      where locked_by is not null and locked_at < now() - make_interval(secs => $1)`,
    [olderThanSeconds],
  );
}

export async function startJobRunner(opts: JobRunnerOptions & { staleLockSeconds?: number }): Promise<Runner> {
  const stale = opts.staleLockSeconds ?? 300;
  await unlockStaleJobs(opts.pool, stale);
  const timer = setInterval(
    () => unlockStaleJobs(opts.pool, stale).catch((err) => opts.log.warn({ err }, "could not hand back stale jobs")),
    Math.min(60_000, Math.max(500, (stale * 1000) / 2)),
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
  });
  runner.promise.finally(() => clearInterval(timer)).catch(() => {});
  return runner;
}

/** The periodic schedule (flightctl-periodic): disconnect sweep every 2 minutes, as flightctl checks. */
export const PERIODIC_CRONTAB = [
  "*/2 * * * * disconnect_sweep ?jobKey=disconnect_sweep&max=1",
  "* * * * * fleet_rollout_sweep ?jobKey=fleet_rollout_sweep&max=1",
];
