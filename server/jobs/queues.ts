// The server's job producers, one per task that writes cause: each picks its task's job key (debounce and batching)
// and is called in the transaction of the write that causes it. Selection, rollout, render and repository update are
// batch jobs (array payloads merged under one key until a worker takes them), so a burst of writes becomes one
// set-based pass instead of a job per device.
import { createHash } from "node:crypto";
import type { Db, Executor } from "../platform/resource/resource-store.js";
import {
  TASK_DEPENDENCY_SYNC,
  TASK_FLEET_ROLLOUT,
  TASK_FLEET_SELECTION,
  TASK_FLEET_VALIDATE,
  TASK_RENDER_DEVICES,
  TASK_REPOSITORY_TEST,
  TASK_REPOSITORY_UPDATE,
  TASK_RESOURCESYNC_SYNC,
  type DependencySyncItem,
  type RenderJob,
  type ResolvedCommits,
  type SelectionItem,
} from "./catalog.js";
import { enqueue } from "./enqueue.js";

/** Recomputes the owners of the devices `items` name (fleets or devices), one batch job per org. */
export const enqueueSelection = (tx: Executor, items: SelectionItem[]) =>
  items.length ? enqueue(tx, TASK_FLEET_SELECTION, items, { jobKey: `fleet-selection:${items[0].orgId}` }) : Promise.resolve();

/** A later enqueue replaces the pending job's payload (job key): without `commits`, validation resolves by itself. */
export const enqueueValidate = (tx: Executor, orgId: string, fleet: string, commits?: ResolvedCommits) =>
  enqueue(tx, TASK_FLEET_VALIDATE, commits ? { orgId, fleet, commits } : { orgId, fleet }, { jobKey: `fleet-validate:${orgId}/${fleet}` });

/** Applies a fleet's current template version: to every owned device, or only to `devices`. */
export const enqueueRollout = (tx: Executor, orgId: string, fleet: string, devices?: string[]) =>
  enqueue(tx, TASK_FLEET_ROLLOUT, devices ? devices.map((device) => ({ orgId, fleet, device })) : [{ orgId, fleet }], {
    jobKey: `fleet-rollout:${orgId}/${fleet}`,
  });

/** Parallel render jobs per org: shards spread the work over worker slots and the job-row lock over writers. */
const RENDER_SHARDS = 8;

const shardOf = (name: string) => createHash("sha1").update(name).digest()[0] % RENDER_SHARDS;

/**
 * Queues (or adds to the queued) render of `names`: one job per org and shard collects every device to render until a
 * worker picks it up, so a fleet-wide change of 10,000 devices becomes a handful of jobs rendered in set-based statements.
 */
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

/** An access test of a new or changed repository. */
export const enqueueRepositoryTest = (tx: Executor, orgId: string, name: string) =>
  enqueue(tx, TASK_REPOSITORY_TEST, { orgId, name }, { jobKey: `repository-test:${orgId}/${name}` });

/** A batch job per org: changes to several repositories before a worker takes it are handled in one pass. */
export const enqueueRepositoryUpdate = (tx: Executor, orgId: string, repository: string) =>
  enqueue(tx, TASK_REPOSITORY_UPDATE, [{ orgId, repository }], { jobKey: `repository-update:${orgId}` });

/** A dependency sync of one fleet or standalone device (new commits on the branches and tags it reads). */
export const enqueueDependencySync = (tx: Executor, item: DependencySyncItem) =>
  enqueue(tx, TASK_DEPENDENCY_SYNC, item, {
    jobKey: `dependency-sync:${item.orgId}/${"fleet" in item ? `Fleet/${item.fleet}` : `Device/${item.device}`}`,
  });

/** One sync per ResourceSync, keyed, so a burst of pushes, edits and polls becomes one run. */
export const enqueueSync = (tx: Executor, orgId: string, name: string) =>
  enqueue(tx, TASK_RESOURCESYNC_SYNC, { orgId, name }, { jobKey: `resourcesync:${orgId}/${name}`, maxAttempts: 5 });

/** Queues a sync now (the webhook RPC); the caller has checked that the ResourceSync exists. */
export const queueSync = (db: Db, orgId: string, name: string) => db.transaction((tx) => enqueueSync(tx, orgId, name));
