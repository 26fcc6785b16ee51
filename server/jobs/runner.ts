// graphile-worker runners: the worker executes tasks; the periodic runner also schedules the crontab. Each runner keeps
// the locks it holds fresh, so the jobs of a runner that died run again after `staleLockSeconds`, not graphile-worker's
// 4 hours.
import { EventEmitter } from "node:events";
import { Logger, parseCronItems, run, type CronItem, type Runner, type TaskList, type WorkerEvents } from "graphile-worker";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import type { TaskHandlers } from "./catalog.js";
import { heartbeatLocks, unlockStaleJobs, unlockWorkers } from "./queue-store.js";

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
  /** A runner that stopped unasked is replaced after this (ms, default 1000; doubling while starting fails). */
  restartDelayMs?: number;
  /** Listens to graphile-worker's events of every runner this one starts (metrics); called once, before the first. */
  observe?: (events: WorkerEvents) => void;
}

/**
 * graphile-worker's log lines go to our logger (at debug for its chatter). Its errors go under `err`, so the logger
 * writes them without statements or values (lib/log-errors.ts); its message quotes the error's message and stack (a
 * failed query's SQL and parameters), so the message stops where the quote begins.
 */
export function bridge(log: Pino): Logger {
  return new Logger(() => (level, message, meta) => {
    const fn = level === "error" ? log.error.bind(log) : level === "warning" ? log.warn.bind(log) : log.debug.bind(log);
    const { error, fatalError, ...rest } = (meta ?? {}) as Record<string, unknown>;
    const err = error ?? fatalError;
    if (!err) return fn(rest, message);
    const quoted = typeof (err as Error).message === "string" ? (err as Error).message.split("\n")[0] : "";
    const at = quoted ? message.indexOf(quoted) : -1;
    fn({ ...rest, err }, at >= 0 ? `${message.slice(0, at)}… (see err)` : message);
  });
}

/** A runner that replaces graphile-worker's runner when that one stops unasked. */
export interface JobRunner {
  /** Stops the runner (and its supervision). */
  stop(): Promise<void>;
  /** graphile-worker's runner of the moment (another one after a restart). */
  readonly current: Runner;
}

/**
 * Starts a runner. Jobs whose worker died (killed, crashed, lost its host) stay locked; each live runner refreshes
 * `locked_at` on the jobs it runs, so a lock older than the threshold belongs to a runner that stopped beating (or to
 * a job it never received) and is handed back (every task is idempotent). Age alone is not enough: a live runner's long job would be stolen and run
 * twice at once.
 *
 * A lost database connection can stop graphile-worker's runner: when 0.17 cannot record a job's outcome ("Could not
 * completeJobs; queue is in an inconsistent state") it shuts the runner down, the job still locked by it. So a runner that stops unasked is replaced (after a pause that doubles while it keeps failing)
 * and the stopped runner's locks are handed back as soon as the database answers: its interrupted jobs run again.
 */
export async function startJobRunner(opts: JobRunnerOptions): Promise<JobRunner> {
  const stale = opts.staleLockSeconds ?? 300;
  await unlockStaleJobs(opts.pool, stale);
  // graphile-worker locks with one id per runner (its worker pool); it is announced before any job is taken.
  const events = new EventEmitter() as WorkerEvents;
  opts.observe?.(events);
  let poolId: string | undefined;
  events.on("pool:create", ({ workerPool }) => (poolId = workerPool.id));
  // The jobs this process knows it runs, by runner: only their locks are kept fresh. A job locked in the database
  // that the runner never received (get_job committed, its answer lost with the connection: seen when Postgres
  // restarts) is not among them, so its lock and its queue's go stale and are handed back, instead of being kept
  // fresh for ever and blocking every later job of that queue.
  const held = new Map<string, { pool: string; queue: number | null }>();
  events.on("job:start", ({ worker, job }) => held.set(job.id, { pool: worker.workerPool.id, queue: job.job_queue_id }));
  events.on("job:complete", ({ job }) => held.delete(job.id));
  // Runners that stopped unasked, whose locks are not handed back yet.
  const dead = new Set<string>();
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  const restartDelay = { min: opts.restartDelayMs ?? 1000, next: opts.restartDelayMs ?? 1000, max: 60_000 };
  // Beat several times per threshold so a busy event loop or a slow query does not look like death.
  const timer = setInterval(
    () => {
      const mine = [...held].filter(([, h]) => h.pool === poolId);
      const beat = poolId
        ? heartbeatLocks(
            opts.pool,
            poolId,
            mine.map(([id]) => id),
            mine.flatMap(([, h]) => (h.queue === null ? [] : [h.queue])),
          )
        : Promise.resolve();
      beat
        .then(() => releaseDead())
        .then(() => unlockStaleJobs(opts.pool, stale))
        .catch((err) => opts.log.warn({ err }, "could not refresh or hand back job locks"));
    },
    Math.min(30_000, Math.max(250, (stale * 1000) / 4)),
  );
  timer.unref();
  async function releaseDead() {
    if (dead.size === 0) return;
    const ids = [...dead];
    await unlockWorkers(opts.pool, ids);
    for (const id of ids) dead.delete(id);
    for (const [job, h] of held) if (ids.includes(h.pool)) held.delete(job);
    opts.log.info({ runners: ids }, "jobs of the stopped job runner handed back");
  }
  const runOne = async (): Promise<Runner> => {
    poolId = undefined;
    const runner = await run({
      pgPool: opts.pool,
      taskList: opts.tasks as TaskList,
      parsedCronItems: opts.crontab ? parseCronItems(opts.crontab) : undefined,
      concurrency: opts.concurrency ?? 4,
      pollInterval: opts.pollInterval ?? 2000,
      noHandleSignals: true,
      logger: bridge(opts.log),
      events,
      // Without batching, 0.17 records a job's outcome without awaiting it: a lost connection then is an unhandled
      // rejection (the process would exit) and the job stays locked by a runner that lives on. Batched (delay 0: the
      // same tick's outcomes in one statement), a failure stops the runner cleanly, and the supervision below takes over.
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    });
    const id = poolId;
    runner.promise.then(
      () => stoppedUnasked(runner, id),
      (err) => stoppedUnasked(runner, id, err),
    );
    return runner;
  };
  function stoppedUnasked(runner: Runner, id: string | undefined, err?: unknown) {
    if (stopping || runner !== current) return;
    if (id) dead.add(id);
    opts.log.error({ err, runner: id, restartInMs: restartDelay.next }, "the job runner stopped; starting another");
    scheduleRestart();
  }
  function scheduleRestart() {
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopping) return;
      runOne().then(
        (runner) => {
          current = runner;
          restartDelay.next = restartDelay.min;
          opts.log.info({ runner: poolId }, "job runner started again");
          // Hand the stopped runner's jobs back now rather than at the next beat.
          releaseDead().catch(() => {});
        },
        (err) => {
          restartDelay.next = Math.min(restartDelay.max, restartDelay.next * 2);
          opts.log.warn({ err, restartInMs: restartDelay.next }, "cannot start the job runner yet");
          scheduleRestart();
        },
      );
    }, restartDelay.next);
  }
  let current = await runOne();
  return {
    get current() {
      return current;
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      clearInterval(timer);
      await current.stop();
    },
  };
}
