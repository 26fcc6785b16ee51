// event_cleanup (crontab, hourly): events past FLIGHTCTL_EVENT_RETENTION_DAYS and console sessions with their
// recordings past FLIGHTCTL_CONSOLE_RETENTION_DAYS are deleted in bounded batches, so the tables stop growing and a
// large backlog never holds a long lock. Running it twice (two periodic runners, a retry) is harmless.
import type { TaskHandlers } from "../jobs/catalog.js";
import type { Db } from "../platform/db.js";
import { createEventStore } from "../platform/event-store.js";
import type { BatchDeleteResult } from "../platform/retention-store.js";
import { createConsoleStore } from "../console/console-store.js";
import type { RetentionSettings } from "../config.js";

/** What one cleanup removed. */
export interface CleanupResult {
  events: BatchDeleteResult;
  consoleSessions: BatchDeleteResult;
}

export function createEventCleanupTasks(db: Db, retention: RetentionSettings) {
  const events = createEventStore(db);
  const consoles = createConsoleStore(db);
  /** Deletes what is older than the retention as of `now`. */
  async function cleanup(now = new Date()): Promise<CleanupResult> {
    return {
      events: await events.deleteOlderThan(new Date(now.getTime() - retention.eventsMs), retention.batchSize),
      consoleSessions: await consoles.deleteOlderThan(new Date(now.getTime() - retention.consoleMs), retention.batchSize),
    };
  }
  const tasks: TaskHandlers<"event_cleanup"> = {
    event_cleanup: async (_payload, helpers) => {
      const r = await cleanup();
      if (r.events.deleted + r.consoleSessions.deleted > 0)
        helpers.logger.info(
          `retention: deleted ${r.events.deleted} event(s) and ${r.consoleSessions.deleted} console session(s) in ${r.events.batches + r.consoleSessions.batches} batch(es)`,
        );
    },
  };
  return { cleanup, tasks };
}
