// Fleet controller jobs, enqueued in the transaction of the write that causes them. Selection and rollout are batch
// jobs (array payloads merged under one key until a worker takes them), so a burst of device writes becomes one
// set-based pass instead of a job per device.
import { enqueue } from "../platform/jobs.js";
import type { Executor } from "../platform/resource/resource-store.js";

export const TASK_FLEET_SELECTION = "fleet_selection";
export const TASK_FLEET_VALIDATE = "fleet_validate";
export const TASK_FLEET_ROLLOUT = "fleet_rollout";

/** Recompute owners: of the devices a fleet owns or selects, or of named devices. */
export type SelectionItem = { orgId: string; fleet: string } | { orgId: string; device: string };
/** Apply a fleet's current template version: to every owned device, or only to `device`. */
export type RolloutItem = { orgId: string; fleet: string; device?: string };

export const enqueueSelection = (tx: Executor, items: SelectionItem[]) =>
  items.length ? enqueue(tx, TASK_FLEET_SELECTION, items, { jobKey: `fleet-selection:${items[0].orgId}` }) : Promise.resolve();

/**
 * Commits the dependency sync just resolved, by git dependency key, with the version of the repository they were
 * resolved in: validation takes them instead of asking git again (many fleets on one branch cost one ls-remote).
 */
export type ResolvedCommits = Record<string, { commit: string; repositoryVersion: string }>;

/** A later enqueue replaces the pending job's payload (job key): without `commits`, validation resolves by itself. */
export const enqueueValidate = (tx: Executor, orgId: string, fleet: string, commits?: ResolvedCommits) =>
  enqueue(tx, TASK_FLEET_VALIDATE, commits ? { orgId, fleet, commits } : { orgId, fleet }, { jobKey: `fleet-validate:${orgId}/${fleet}` });

export const enqueueRollout = (tx: Executor, orgId: string, fleet: string, devices?: string[]) =>
  enqueue(tx, TASK_FLEET_ROLLOUT, devices ? devices.map((device) => ({ orgId, fleet, device })) : [{ orgId, fleet }], {
    jobKey: `fleet-rollout:${orgId}/${fleet}`,
  });
