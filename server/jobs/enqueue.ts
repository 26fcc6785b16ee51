// The way the server queues its own tasks: `enqueue` is typed by the task catalog, so a task name outside it or a
// payload of the wrong shape does not compile.
import type { Executor } from "../platform/resource/resource-store.js";
import type { TaskName, TaskPayload } from "./catalog.js";
import { addJob, type EnqueueOptions } from "./queue-store.js";

export type { EnqueueOptions };

/**
 * Adds a job of catalog task `task` in `tx`'s transaction (a rolled-back write leaves no job). An array payload makes
 * a batch job: graphile-worker appends it to the pending job with the same key.
 */
export const enqueue = <N extends TaskName>(tx: Executor, task: N, payload: TaskPayload<N>, opts?: EnqueueOptions): Promise<void> =>
  addJob(tx, task, payload, opts);
