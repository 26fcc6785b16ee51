// The task catalog: every background task's name and payload, merged into graphile-worker's `GraphileWorker.Tasks`
// (declaration merging), so `enqueue`, the handlers (`Task<name>`) and the crontab are checked by the compiler against
// one list: an unknown name or a wrong payload does not compile, and the worker's task list must cover every name.
import type { Task } from "graphile-worker";

/** Recompute owners: of the devices a fleet owns or selects, or of named devices. */
export type SelectionItem = { orgId: string; fleet: string } | { orgId: string; device: string };

/** Apply a fleet's current template version: to every owned device, or only to `device`. */
export type RolloutItem = { orgId: string; fleet: string; device?: string };

/**
 * Commits the dependency sync just resolved, by git dependency key, with the version of the repository they were
 * resolved in: validation takes them instead of asking git again (many fleets on one branch cost one ls-remote).
 */
export type ResolvedCommits = Record<string, { commit: string; repositoryVersion: string }>;

/** Validate a fleet's template; without `commits`, validation resolves its git dependencies itself. */
export interface ValidatePayload {
  orgId: string;
  fleet: string;
  commits?: ResolvedCommits;
}

/** One fleet (a rollout tick). */
export interface FleetKey {
  orgId: string;
  fleet: string;
}

/** One device to render. */
export interface RenderJob {
  orgId: string;
  name: string;
}

/** One repository to test. */
export interface RepositoryKey {
  orgId: string;
  name: string;
}

/** One repository whose spec changed (or that was created or deleted). */
export interface RepositoryUpdateItem {
  orgId: string;
  repository: string;
}

/** What one on-demand dependency sync checks. */
export type DependencySyncItem = { orgId: string; fleet: string } | { orgId: string; device: string };

/** One ResourceSync to sync. */
export interface SyncPayload {
  orgId: string;
  name: string;
}

/** What graphile-worker's crontab puts in a scheduled job (absent when a job is added by hand). */
export interface CronPayload {
  _cron?: { ts: string; backfilled: boolean };
}

declare global {
  namespace GraphileWorker {
    /** Task name → payload. Batch tasks take arrays: graphile-worker appends to the pending job with the same key. */
    interface Tasks {
      fleet_selection: SelectionItem[];
      fleet_validate: ValidatePayload;
      fleet_rollout: RolloutItem[];
      fleet_rollout_tick: FleetKey;
      fleet_rollout_sweep: CronPayload;
      render_devices: RenderJob[];
      disconnect_sweep: CronPayload;
      /** One repository, or every repository of every organization (crontab). */
      repository_test: RepositoryKey | CronPayload;
      repository_update: RepositoryUpdateItem[];
      dependency_sync_poll: CronPayload;
      dependency_sync: DependencySyncItem;
      resourcesync_sync: SyncPayload;
      resourcesync_poll: CronPayload;
      event_cleanup: CronPayload;
    }
  }
}

/** A task of the catalog. */
export type TaskName = keyof GraphileWorker.Tasks;

/** The payload of task `N`. */
export type TaskPayload<N extends TaskName> = GraphileWorker.Tasks[N];

/** Handlers of the tasks `N`, each typed by its payload (a task file's registration; the worker needs them all). */
export type TaskHandlers<N extends TaskName = TaskName> = { [K in N]: Task<K> };

/** The tasks the crontab may schedule: those whose payload is the cron payload. */
export type CronTaskName = { [K in TaskName]: CronPayload extends TaskPayload<K> ? K : never }[TaskName];

// Names as constants, for the registrations keyed by them; `satisfies` ties each to the catalog.
export const TASK_FLEET_SELECTION = "fleet_selection" satisfies TaskName;
export const TASK_FLEET_VALIDATE = "fleet_validate" satisfies TaskName;
export const TASK_FLEET_ROLLOUT = "fleet_rollout" satisfies TaskName;
export const TASK_FLEET_ROLLOUT_TICK = "fleet_rollout_tick" satisfies TaskName;
/** Crontab: restarts rollouts whose tick chain broke. */
export const TASK_FLEET_ROLLOUT_SWEEP = "fleet_rollout_sweep" satisfies TaskName;
export const TASK_RENDER_DEVICES = "render_devices" satisfies TaskName;
/** Crontab: marks devices that stopped reporting as disconnected. */
export const TASK_DISCONNECT_SWEEP = "disconnect_sweep" satisfies TaskName;
export const TASK_REPOSITORY_TEST = "repository_test" satisfies TaskName;
export const TASK_REPOSITORY_UPDATE = "repository_update" satisfies TaskName;
/** Crontab: every fleet and standalone device of every organization. */
export const TASK_DEPENDENCY_SYNC_POLL = "dependency_sync_poll" satisfies TaskName;
/** One fleet or one standalone device, on demand. */
export const TASK_DEPENDENCY_SYNC = "dependency_sync" satisfies TaskName;
export const TASK_RESOURCESYNC_SYNC = "resourcesync_sync" satisfies TaskName;
/** Crontab: queues a sync of every ResourceSync of every organization. */
export const TASK_RESOURCESYNC_POLL = "resourcesync_poll" satisfies TaskName;
/** Crontab: deletes events and console sessions past their retention, in bounded batches. */
export const TASK_EVENT_CLEANUP = "event_cleanup" satisfies TaskName;
