// The periodic schedule (flightctl-periodic, and npm start): graphile-worker coordinates crontabs across runners, so
// several copies schedule each slot once. Only catalog tasks that take the cron payload can be scheduled.
import type { CronItem } from "graphile-worker";
import {
  TASK_DEPENDENCY_SYNC_POLL,
  TASK_DISCONNECT_SWEEP,
  TASK_EVENT_CLEANUP,
  TASK_FLEET_ROLLOUT_SWEEP,
  TASK_REPOSITORY_TEST,
  TASK_RESOURCESYNC_POLL,
  type CronTaskName,
} from "./catalog.js";

/** One scheduled task: keyed by its name and tried once, so a slow run is never doubled or retried into the next slot. */
const every = (match: string, task: CronTaskName): CronItem => ({ task, match, options: { jobKey: task, maxAttempts: 1 } });

/** The crontab. */
export const PERIODIC_SCHEDULE: CronItem[] = [
  // Devices that stopped reporting, every 2 minutes as flightctl checks.
  every("*/2 * * * *", TASK_DISCONNECT_SWEEP),
  // Rollouts whose tick chain broke (a job that failed for good) are picked up again.
  every("* * * * *", TASK_FLEET_ROLLOUT_SWEEP),
  // The repository tester: every repository of every organization, every 2 minutes as flightctl.
  every("*/2 * * * *", TASK_REPOSITORY_TEST),
  // Every ResourceSync of every organization, every 2 minutes as flightctl (a push webhook can call SyncResourceSync).
  every("*/2 * * * *", TASK_RESOURCESYNC_POLL),
  // The dependency sync: new commits on the branches and tags fleets and standalone devices read, every 2 minutes
  // (flightctl looks every 3); one ls-remote per repository and revision, however many read it.
  every("*/2 * * * *", TASK_DEPENDENCY_SYNC_POLL),
  // Retention: events and console recordings past their age, hourly (off the hour, away from other hourly work).
  every("17 * * * *", TASK_EVENT_CLEANUP),
];
