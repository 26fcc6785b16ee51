// flightctl-worker: a graphile-worker runner for the background tasks; with FLIGHTCTL_PERIODIC=1 (or as
// flightctl-periodic, main/periodic.ts) it also schedules the crontab. Both scale out: run as many as you like. Its
// settings come from server/config.ts (docs/server.md lists them).
import { pathToFileURL } from "node:url";
import { pendingMigrations } from "../../db/migrate.js";
import { createDeviceTasks } from "../devices/device-tasks.js";
import { createFleetTasks } from "../fleets/fleet-tasks.js";
import { createHttpConfigResolver } from "../repositories/http-config.js";
import { createGitClient } from "../repositories/git.js";
import { createGitConfigResolver } from "../repositories/git-config.js";
import { createRepositoryTasks } from "../repositories/repository-tasks.js";
import { createDependencySyncTasks } from "../repositories/dependency-sync.js";
import { createResourceSyncTasks } from "../resourcesyncs/resourcesync-tasks.js";
import { createEventCleanupTasks } from "../events/event-cleanup-tasks.js";
import { memoryContentCache, redisContentCache } from "../platform/content-cache.js";
import type { Logger } from "../../lib/logger.js";
import { createDb } from "../platform/db.js";
import { createPool } from "../platform/pg-pool.js";
import type { TaskHandlers } from "../jobs/catalog.js";
import { PERIODIC_SCHEDULE } from "../jobs/crontab.js";
import { startJobRunner, type JobRunner } from "../jobs/runner.js";
import { loadConfig, withDefaults, type ServerConfig, type WorkerSettings } from "../config.js";
import { requireDatabaseUrl, runProcess } from "./process.js";
import { Registry } from "prom-client";
import { collectProcessMetrics } from "../platform/process-metrics.js";
import { startMetricsListener, type MetricsListener } from "../metrics/metrics-http.js";
import { defaultReplica, registerReplicaMetrics } from "../metrics/replica-metrics.js";
import { registerWorkerMetrics } from "../metrics/worker-metrics.js";

/** A runner's options: the worker settings (what is not given takes server/config.ts's default). */
export interface WorkerOptions extends Partial<WorkerSettings> {
  databaseUrl: string;
  log: Logger;
  /** Frozen git/http content shared by workers (unset: in-process). */
  redisUrl?: string;
  /** Waiting longer for a database connection fails the statement (default 10 s). */
  dbConnectTimeoutMs?: number;
  /** Serve GET /metrics on this host:port (port 0: a free one; unset: nowhere). */
  metricsAddress?: string;
  /** The `replica` label of this worker's metrics (default <host name>:<pid>). */
  replica?: string;
}

/** Starts a runner with a handler for every task of the catalog (and the crontab when periodic). */
export async function startWorker(
  options: WorkerOptions,
): Promise<{ runner: JobRunner; metrics: Registry; metricsPort?: number; close(): Promise<void> }> {
  const opts = withDefaults(loadConfig({}).worker, options);
  const pending = await pendingMigrations(opts.databaseUrl);
  if (pending.length > 0) throw new Error(`the database has pending migrations (${pending.join(", ")}); run flightctl-db-migrate first`);
  // Also graphile-worker's pool: every connection has an error listener, so a lost one never ends the process.
  const pool = createPool({
    connectionString: opts.databaseUrl,
    max: opts.concurrency + 2,
    connectTimeoutMs: options.dbConnectTimeoutMs ?? loadConfig({}).dbConnectTimeoutMs,
    log: opts.log,
    name: "worker",
  });
  const db = createDb(pool);
  // External config (git and http providers) is frozen per template version: in Redis when there is one.
  const frozen = opts.redisUrl ? redisContentCache(opts.redisUrl) : memoryContentCache();
  // One git client per worker: its clone cache is shared by all tasks.
  const git = createGitClient({ cacheDir: opts.gitCacheDir, knownHostsFile: opts.gitKnownHosts });
  const devices = createDeviceTasks(db, {
    resolvers: { httpRef: createHttpConfigResolver(db, frozen), gitRef: createGitConfigResolver(db, frozen, git) },
  });
  const repositories = createRepositoryTasks(db, { git });
  const resourceSyncs = createResourceSyncTasks(db, { git });
  // The fleet controller pins the commits of a template's git dependencies in each template version it makes.
  const fleets = createFleetTasks(db, { rolloutTickSeconds: opts.rolloutTickSeconds, git });
  const dependencies = createDependencySyncTasks(db, { git });
  const retention = createEventCleanupTasks(db, opts.retention);
  // Typed by the catalog: a task without a handler here does not compile.
  const tasks: TaskHandlers = {
    ...devices.tasks,
    ...fleets.tasks,
    ...repositories.tasks,
    ...resourceSyncs.tasks,
    ...dependencies.tasks,
    ...retention.tasks,
  };
  // The worker's metrics: its jobs (from the runner's events), its pool, the process.
  const metrics = new Registry();
  collectProcessMetrics(metrics, "flightctl_worker_process_");
  const replica = options.replica ?? defaultReplica(process.pid);
  registerReplicaMetrics(metrics, { replica, pools: { worker: pool } });
  const jobMetrics = registerWorkerMetrics(metrics, replica);
  const runner = await startJobRunner({
    observe: jobMetrics.observe,
    pool,
    log: opts.log,
    tasks,
    crontab: opts.periodic ? PERIODIC_SCHEDULE : undefined,
    concurrency: opts.concurrency,
    staleLockSeconds: opts.staleJobSeconds,
  });
  let listener: MetricsListener | undefined;
  try {
    if (options.metricsAddress) listener = await startMetricsListener(metrics, options.metricsAddress, opts.log);
  } catch (err) {
    await runner.stop();
    await frozen.close();
    await pool.end();
    throw err;
  }
  return {
    runner,
    metrics,
    metricsPort: listener?.port,
    close: async () => {
      await listener?.close();
      await runner.stop();
      await frozen.close();
      await pool.end();
    },
  };
}

/** The runner's options from the configuration. */
export const workerOptions = (config: ServerConfig, databaseUrl: string, log: Logger): WorkerOptions => ({
  ...config.worker,
  databaseUrl,
  log,
  redisUrl: config.redisUrl,
  dbConnectTimeoutMs: config.dbConnectTimeoutMs,
  metricsAddress: config.metrics.workerAddress,
  replica: config.metrics.replica,
});

/** Runs the process from its configuration (also the bin entry point); `periodic` makes it flightctl-periodic. */
export const main = (periodic = false) =>
  runProcess(periodic ? "flightctl-periodic" : "flightctl-worker", async (config, log) => {
    const opts = workerOptions(config, requireDatabaseUrl(config, log), log);
    return (await startWorker({ ...opts, periodic: periodic || opts.periodic })).close;
  });

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.includes("--periodic"));
