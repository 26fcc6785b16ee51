// Batch task handlers: an array payload merged under a job key, that loses nothing when it fails after its key moved.
import type { JobHelpers } from "graphile-worker";
import type { Executor } from "../platform/resource/resource-store.js";
import { isConnectionError } from "../platform/pg-errors.js";
import { addJob, currentJobKey } from "./queue-store.js";

/** How long a failed batch waits for the database to answer before it gives up deciding (then graphile-worker's retry). */
const DATABASE_WAIT_MS = 10 * 60_000;

/** Runs `fn`, again while the database is unreachable (pauses of 0.5 s doubling to 10 s), for up to DATABASE_WAIT_MS. */
async function whenDatabaseAnswers<T>(fn: () => Promise<T>): Promise<T> {
  const end = Date.now() + DATABASE_WAIT_MS;
  for (let pause = 500; ; pause = Math.min(pause * 2, 10_000)) {
    try {
      return await fn();
    } catch (err) {
      if (!isConnectionError(err) || Date.now() + pause > end) throw err;
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}

/**
 * A batch task (array payload merged under a job key) that loses nothing when it fails after its key was taken.
 * graphile-worker's add_job, finding the keyed job running, moves the key to a new job that holds only the new items,
 * and marks the running job as out of retries. A batch that then fails would drop its own items for good (seen at
 * 10,000 devices: a render batch hit a deadlock while a rollout queued more renders, and 142 devices were never
 * rendered). Here such a batch queues its items again under its key, with graphile-worker's backoff; any other failure
 * is left to graphile-worker's retries. (Not for jobs in a named queue: none of the batch jobs uses one.)
 * Registered under a catalog name, the handler's item type is checked against that task's payload.
 */
export function batchTask<T>(
  db: Executor,
  task: string,
  run: (items: T[], helpers: JobHelpers) => Promise<void>,
): (payload: T[] | T, helpers: JobHelpers) => Promise<void> {
  return async (payload, helpers) => {
    const items = (Array.isArray(payload) ? payload : [payload]) as T[];
    try {
      await run(items, helpers);
    } catch (e) {
      const { id, key, attempts, max_attempts: maxAttempts } = helpers.job;
      if (!key || attempts >= maxAttempts) throw e;
      // Decided against the database as it is once it answers: failing the job while it is down would let
      // graphile-worker record a failure with no retries left (the key moved) and the items would be lost.
      const moved = await whenDatabaseAnswers(async () => {
        if ((await currentJobKey(db, id)) === key) return false;
        await addJob(db, task, items, { jobKey: key, delaySeconds: Math.min(3600, Math.exp(attempts)), maxAttempts });
        return true;
      });
      if (!moved) throw e;
      helpers.logger.error(
        `batch job ${id} (${task}) failed after its key moved to a newer job; its ${items.length} item(s) are queued again`,
        // Under `error` the runner's log bridge writes it without statements or values (a failed query's are in its message).
        { error: e },
      );
    }
  };
}
