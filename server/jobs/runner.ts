// graphile-worker runners: the worker executes tasks; the periodic runner also schedules the crontab. Each runner keeps
// the locks it holds fresh, so the jobs of a runner that died run again after `staleLockSeconds`, not graphile-worker's
// 4 hours.
import { EventEmitter } from "node:events";
import { Logger, parseCronItems, run, type CronItem, type Runner, type TaskList, type WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import type { TaskHandlers } from "./catalog.js";
import { heartbeatLocks, unlockStaleJobs } from "./queue-store.js";

export interface JobRunnerOptions {
  pool: Pool;
  log: Pino;
  /** A handler for every task of the catalog. */
  tasks: TaskHandlers;
  /** The schedule (PERIODIC_SCHEDULE) when this runner is also the periodic one. */
  crontab?: CronItem[];
  concurrency?: number;
  /** How often to poll when no notification arrived, ms (default 2000). */
  pollInterval?: number;
  /** A job locked this long belongs to a dead runner and runs again (default 300). */
  staleLockSeconds?: number;
}

/** graphile-worker's log lines go to our logger (at debug for its chatter). */
function bridge(log: Pino): Logger {
  return new Logger(() => (level, message, meta) => {
    const fn = level === "error" ? log.error.bind(log) : level === "warning" ? log.warn.bind(log) : log.debug.bind(log);
    fn(meta ?? {}, message);
  });
}

/**
 * Starts a runner. Jobs whose worker died (killed, crashed, lost its host) stay locked; each live runner refreshes
 * `locked_at` on what it holds, so a lock older than the threshold belongs to a runner that stopped beating and is
 * handed back (every task is idempotent). Age alone is not enough: a live runner's long job would be stolen and run
 * twice at once.
 */
export async function startJobRunner(opts: JobRunnerOptions): Promise<Runner> {
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
    taskList: opts.tasks as TaskList,
    parsedCronItems: opts.crontab ? parseCronItems(opts.crontab) : undefined,
    concurrency: opts.concurrency ?? 4,
    pollInterval: opts.pollInterval ?? 2000,
    noHandleSignals: true,
    logger: bridge(opts.log),
    events,
  });
  runner.promise.finally(() => clearInterval(timer)).catch(() => {});
  return runner;
}
