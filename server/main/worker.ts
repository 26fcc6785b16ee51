// flightctl-worker and flightctl-periodic: graphile-worker runners for the background tasks. `--periodic` (or
// FLIGHTCTL_PERIODIC=1) also schedules the crontab. Both scale out: run as many as you like.
//   DATABASE_URL (required), FLIGHTCTL_WORKER_CONCURRENCY (default 4), LOG_LEVEL
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import pg from "pg";
import type { Runner } from "graphile-worker";
import { drizzle } from "drizzle-orm/node-postgres";
import { pendingMigrations } from "../../db/migrate.js";
import { createDeviceTasks } from "../devices/device-tasks.js";
import { createFleetTasks } from "../fleets/fleet-tasks.js";
import { createHttpConfigResolver } from "../repositories/http-config.js";
import { createGitClient } from "../repositories/git.js";
import { createGitConfigResolver } from "../repositories/git-config.js";
import { createRepositoryTasks } from "../repositories/repository-tasks.js";
import { createDependencySyncTasks } from "../repositories/dependency-sync.js";
import { createResourceSyncTasks } from "../resourcesyncs/resourcesync-tasks.js";
import { contentCacheFromEnv } from "../platform/content-cache.js";
import { createLogger, type Logger } from "../platform/logger.js";
import type { Db } from "../platform/resource/resource-store.js";
import type { TaskHandlers } from "../jobs/catalog.js";
import { PERIODIC_SCHEDULE } from "../jobs/crontab.js";
import { startJobRunner } from "../jobs/runner.js";
import { closeOnSignals } from "./api.js";

export interface WorkerOptions {
  databaseUrl: string;
  log: Logger;
  /** Also schedule the periodic tasks. */
  periodic?: boolean;
  concurrency?: number;
  /** Seconds between ticks of a policy rollout (default FLIGHTCTL_ROLLOUT_TICK_SECONDS, else 30). */
  rolloutTickSeconds?: number;
}

export async function startWorker(opts: WorkerOptions): Promise<{ runner: Runner; close(): Promise<void> }> {
  const pending = await pendingMigrations(opts.databaseUrl);
  if (pending.length > 0) throw new Error(`the database has pending migrations (${pending.join(", ")}); run flightctl-db-migrate first`);
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: (opts.concurrency ?? 4) + 2 });
  pool.on("error", (err) => opts.log.error({ err }, "worker: idle database connection failed"));
  pool.on("connect", (client) => client.on("error", (err) => opts.log.error({ err }, "database connection failed")));
  const db = drizzle(pool) as unknown as Db;
  // External config (git and http providers) is frozen per template version: in Redis when FLIGHTCTL_REDIS_URL is set.
  const frozen = contentCacheFromEnv();
  // One git client per worker: its clone cache (FLIGHTCTL_GIT_CACHE_DIR, else under the OS temp dir) is shared by all tasks.
  const git = createGitClient({ cacheDir: process.env.FLIGHTCTL_GIT_CACHE_DIR || join(tmpdir(), "flightctl-git-cache") });
  const devices = createDeviceTasks(db, {
    resolvers: { httpRef: createHttpConfigResolver(db, frozen), gitRef: createGitConfigResolver(db, frozen, git) },
  });
  const repositories = createRepositoryTasks(db, { git });
  const resourceSyncs = createResourceSyncTasks(db, { git });
  // FLIGHTCTL_ROLLOUT_TICK_SECONDS: how often a policy rollout checks its batch and budget (default 30, as flightctl).
  // The fleet controller pins the commits of a template's git dependencies in each template version it makes.
  const fleets = createFleetTasks(db, {
    rolloutTickSeconds: opts.rolloutTickSeconds ?? Number(process.env.FLIGHTCTL_ROLLOUT_TICK_SECONDS ?? 30),
    git,
  });
  const dependencies = createDependencySyncTasks(db, { git });
  // Typed by the catalog: a task without a handler here does not compile.
  const tasks: TaskHandlers = { ...devices.tasks, ...fleets.tasks, ...repositories.tasks, ...resourceSyncs.tasks, ...dependencies.tasks };
  const runner = await startJobRunner({
    pool,
    log: opts.log,
    tasks,
    crontab: opts.periodic ? PERIODIC_SCHEDULE : undefined,
    concurrency: opts.concurrency,
    // FLIGHTCTL_STALE_JOB_SECONDS: a job locked this long belongs to a dead worker and runs again (default 300).
    staleLockSeconds: Number(process.env.FLIGHTCTL_STALE_JOB_SECONDS ?? 300),
  });
  return {
    runner,
    close: async () => {
      await runner.stop();
      await frozen.close();
      await pool.end();
    },
  };
}

/** Runs the process from environment settings (also the bin entry point). */
export async function main(argv = process.argv.slice(2)) {
  const periodic = argv.includes("--periodic") || process.env.FLIGHTCTL_PERIODIC === "1";
  const log = createLogger(periodic ? "flightctl-periodic" : "flightctl-worker");
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    log.fatal("DATABASE_URL is required");
    process.exit(2);
  }
  try {
    const w = await startWorker({ databaseUrl, log, periodic, concurrency: Number(process.env.FLIGHTCTL_WORKER_CONCURRENCY ?? 4) });
    closeOnSignals(w.close, log);
  } catch (err) {
    log.fatal({ err }, "cannot start");
    process.exit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
