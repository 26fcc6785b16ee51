// Render requests as graphile-worker batch jobs: one job per org and shard whose array payload collects every device
// to render until a worker picks it up (graphile-worker merges array payloads under one job key). A fleet-wide change
// of 10,000 devices becomes a handful of jobs rendered in set-based statements, not 10,000 jobs.
import { createHash } from "node:crypto";
import { enqueue } from "../platform/jobs.js";
import type { Executor } from "../platform/resource/resource-store.js";

export const TASK_RENDER_DEVICES = "render_devices";

/** One device to render. */
export interface RenderJob {
  orgId: string;
  name: string;
}

/** Parallel render jobs per org: shards spread the work over worker slots and the job-row lock over writers. */
const SHARDS = 8;

const shardOf = (name: string) => createHash("sha1").update(name).digest()[0] % SHARDS;

/** Queues (or adds to the queued) render of `names` in the current transaction. */
export async function enqueueRenders(tx: Executor, orgId: string, names: string[]): Promise<void> {
  const byShard = new Map<number, RenderJob[]>();
  for (const name of names) {
    const s = shardOf(name);
    const list = byShard.get(s) ?? byShard.set(s, []).get(s)!;
    list.push({ orgId, name });
  }
  // Always in shard order: concurrent writers lock the shard job rows in one order and cannot deadlock on them.
  for (const [shard, jobs] of [...byShard].sort((a, b) => a[0] - b[0]))
    await enqueue(tx, TASK_RENDER_DEVICES, jobs, { jobKey: `render:${orgId}:${shard}` });
}
