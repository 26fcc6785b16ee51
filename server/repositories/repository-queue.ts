// Repository jobs, enqueued in the transaction of the write that causes them: an access test of a new or changed
// repository, the propagation of its change to the fleets and standalone devices that read it, and the dependency
// sync (new commits on the branches and tags they read).
import { enqueue } from "../platform/jobs.js";
import type { Executor } from "../platform/resource/resource-store.js";

export const TASK_REPOSITORY_TEST = "repository_test";
export const TASK_REPOSITORY_UPDATE = "repository_update";
/** Every fleet and standalone device of every organization (crontab). */
export const TASK_DEPENDENCY_SYNC_POLL = "dependency_sync_poll";
/** One fleet or one standalone device, on demand. */
export const TASK_DEPENDENCY_SYNC = "dependency_sync";

/** One repository whose spec changed (or that was created or deleted). */
export interface RepositoryUpdateItem {
  orgId: string;
  repository: string;
}

export const enqueueRepositoryTest = (tx: Executor, orgId: string, name: string) =>
  enqueue(tx, TASK_REPOSITORY_TEST, { orgId, name }, { jobKey: `repository-test:${orgId}/${name}` });

/** A batch job per org: changes to several repositories before a worker takes it are handled in one pass. */
export const enqueueRepositoryUpdate = (tx: Executor, orgId: string, repository: string) =>
  enqueue(tx, TASK_REPOSITORY_UPDATE, [{ orgId, repository }], { jobKey: `repository-update:${orgId}` });

/** What one on-demand dependency sync checks. */
export type DependencySyncItem = { orgId: string; fleet: string } | { orgId: string; device: string };

export const enqueueDependencySync = (tx: Executor, item: DependencySyncItem) =>
  enqueue(tx, TASK_DEPENDENCY_SYNC, item, {
    jobKey: `dependency-sync:${item.orgId}/${"fleet" in item ? `Fleet/${item.fleet}` : `Device/${item.device}`}`,
  });
