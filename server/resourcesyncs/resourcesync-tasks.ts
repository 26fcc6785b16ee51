// The ResourceSync controller (graphile-worker tasks): keeps the fleets a git path declares in the organization.
// A sync resolves the target revision (one ls-remote: a poll that finds the commit and the spec unchanged since the last
// successful sync stops there and writes nothing), reads the path at that commit, parses and validates every document,
// and applies the whole set in one transaction through the Fleet service (its rules, events and jobs), owned by
// "ResourceSync/<name>": created, replaced when changed, deleted when gone from git. Any failure leaves the fleets as they
// were and says why in the status conditions.
import { isDeepStrictEqual } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import { FleetSchema, type Fleet } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import type { EventDetailsJson } from "../../gen/flightctl/v1beta1/event_pb.js";
import type { ResourceSyncSpecJson, ResourceSyncStatusJson } from "../../gen/flightctl/v1beta1/resourcesync_pb.js";
import { fleetKind } from "../fleets/fleet-service.js";
import { createFleetStore } from "../fleets/fleet-store.js";
import { decodeJson } from "../platform/codec.js";
import { DomainError } from "../platform/errors.js";
import { setCondition, type ConditionInput } from "../platform/conditions.js";
import { serviceIdentity, type Caller } from "../platform/identity.js";
import { kindServiceOn, kindStore } from "../platform/resource/kind.js";
import { repositoryKind } from "../repositories/repository-service.js";
import { resourceSyncKind } from "./resourcesync-service.js";
import type { Db, Executor, ResourceRecord } from "../platform/resource/resource-store.js";
import { GitError, type GitClient } from "../repositories/git.js";
import { normalizeRepoPath } from "../repositories/git-tree.js";
import { type ParsedFleets, parseFleets, ParseError, resourceFiles } from "./resourcesync-parse.js";
import { type TaskHandlers, TASK_RESOURCESYNC_POLL, TASK_RESOURCESYNC_SYNC } from "../jobs/catalog.js";
import { queueAllSyncs } from "./resourcesync-queue.js";
import { ACCESSIBLE, REASONS, RESOURCE_PARSED, SOURCE_COMPONENT, statusEvents, SYNCED } from "./resourcesync-status.js";
import { createResourceSyncStore } from "./resourcesync-store.js";

/** Bounds on what one sync reads (a path is expected to hold resource files, not a whole repository). */
export const READ_LIMITS = { maxFiles: 2000, maxFileBytes: 1024 * 1024, maxTotalBytes: 64 * 1024 * 1024 };

/** What a sync did; for logs, tests and benchmarks. */
export type SyncOutcome =
  | "gone" // the ResourceSync no longer exists
  | "unchanged" // same commit and generation as the last successful sync
  | "superseded" // its spec changed meanwhile; the job queued by that change syncs it
  | "failed" // a condition says why
  | "synced";

export interface ResourceSyncTaskOptions {
  git: GitClient;
}

export function createResourceSyncTasks(db: Db, opts: ResourceSyncTaskOptions) {
  const syncs = kindStore(resourceSyncKind, db);
  const repositories = kindStore(repositoryKind, db);
  const syncStore = createResourceSyncStore(db);
  const fleetStore = createFleetStore(db);
  // Validation only; writes use a service bound to the sync's transaction.
  const fleetRules = kindServiceOn(fleetKind, db);
  const toFleet = (doc: JsonObject): Fleet => {
    const msg = decodeJson(FleetSchema, doc);
    fleetRules.check(msg);
    return msg;
  };

  /** Writes `next` if it differs from the stored status, with its events, unless the spec moved on meanwhile. */
  async function writeStatus(
    exec: Executor,
    orgId: string,
    rs: ResourceRecord<ResourceSyncSpecJson, ResourceSyncStatusJson>,
    next: ResourceSyncStatusJson,
    completed?: EventDetailsJson,
  ): Promise<boolean> {
    if (isDeepStrictEqual(rs.status ?? {}, next)) return true;
    return syncStore.writeStatus(
      exec,
      { orgId, name: rs.name, generation: rs.generation },
      next,
      statusEvents(rs.name, rs.status, next, completed),
    );
  }

  async function sync(orgId: string, name: string): Promise<SyncOutcome> {
    const rs = await syncs.get({ orgId, name });
    if (!rs) return "gone";
    const spec: ResourceSyncSpecJson = rs.spec ?? {};
    const before: ResourceSyncStatusJson = rs.status ?? {};
    let status: ResourceSyncStatusJson = { ...before, conditions: before.conditions ?? [] };
    const set = (c: ConditionInput) => (status = { ...status, conditions: setCondition(status.conditions, c) });
    /** Saves the status outside the apply transaction; nothing to do (not even a round trip) when it is unchanged. */
    const save = async () => {
      if (!isDeepStrictEqual(rs.status ?? {}, status)) await db.transaction((tx) => writeStatus(tx, orgId, rs, status));
    };
    const fail = async (c: Omit<ConditionInput, "status">): Promise<SyncOutcome> => {
      set({ ...c, status: "False" });
      await save();
      return "failed";
    };

    if (spec.type === "catalog") {
      return fail({
        type: RESOURCE_PARSED,
        reason: REASONS.fail,
        message: 'spec.type "catalog" is not supported yet; only "fleet" syncs are',
      });
    }
    const repoName = spec.repository ?? "";
    const repo = await repositories.get({ orgId, name: repoName });
    const repoSpec: RepositorySpecJson | undefined = repo?.spec ?? undefined;
    if (!repo || repoSpec?.type !== "git") {
      const why = repo ? `is of type "${String(repoSpec?.type)}"; a ResourceSync needs a git repository` : "does not exist";
      return fail({ type: ACCESSIBLE, reason: REASONS.repositoryNotFound, message: `Repository "${repoName}" ${why}` });
    }
    const source = repoSpec;
    const revision = spec.targetRevision ?? "";
    const path = normalizeRepoPath(spec.path ?? "");
    const gitMessage = (e: GitError) => `Repository "${repoName}": ${e.message}`;

    let commit: string;
    try {
      commit = await opts.git.resolve(source, revision);
    } catch (e) {
      if (!(e instanceof GitError)) throw e;
      return fail({ type: ACCESSIBLE, reason: REASONS.cloneFailed, message: gitMessage(e) });
    }
    const accessible = { type: ACCESSIBLE, status: "True", reason: REASONS.accessible, message: REASONS.accessible } as const;
    const syncedBefore = before.conditions?.find((c) => c.type === SYNCED);
    if (before.observedCommit === commit && before.observedGeneration === rs.generation && syncedBefore?.status === "True") {
      // Nothing new; only a recovered repository is worth a write.
      set(accessible);
      await save();
      return "unchanged";
    }
    status = { ...status, observedCommit: commit };
    set({ type: SYNCED, status: "False", reason: REASONS.newHash, message: `commit ${commit} is not applied yet` });

    let files: Awaited<ReturnType<GitClient["readPath"]>>;
    try {
      files = await opts.git.readPath(source, commit, path, READ_LIMITS);
    } catch (e) {
      if (!(e instanceof GitError)) throw e;
      if (e.reason === "TooLarge") {
        set(accessible);
        return fail({ type: RESOURCE_PARSED, reason: REASONS.fail, message: `${gitMessage(e)}; nothing was applied` });
      }
      const notFound = e.reason === "PathNotFound";
      return fail({
        type: ACCESSIBLE,
        reason: notFound ? REASONS.pathNotFound : REASONS.cloneFailed,
        message: notFound ? `path "${spec.path}" not found in repository "${repoName}" at ${revision} (${commit})` : gitMessage(e),
      });
    }
    set(accessible);

    let parsed: ParsedFleets<Fleet>;
    try {
      const chosen = resourceFiles(files, path);
      if (chosen.length === 0) throw new ParseError(`path "${spec.path}" holds no .yaml, .yml or .json files`);
      parsed = parseFleets(chosen, toFleet);
    } catch (e) {
      if (!(e instanceof ParseError)) throw e;
      return fail({ type: RESOURCE_PARSED, reason: REASONS.fail, message: `${e.message}; nothing was applied` });
    }
    const listed = parsed.skipped.slice(0, 10).join(", ") + (parsed.skipped.length > 10 ? ` and ${parsed.skipped.length - 10} more` : "");
    const skippedNote = parsed.skipped.length ? `; ignored ${parsed.skipped.length} document(s) of other kinds: ${listed}` : "";
    set({
      type: RESOURCE_PARSED,
      status: "True",
      reason: REASONS.success,
      message: `${parsed.fleets.length} fleet(s) found${skippedNote}`,
    });

    const owner = `ResourceSync/${name}`;
    const caller: Caller = { orgId, identity: serviceIdentity("resourcesync") };
    const wanted = new Set(parsed.fleets.map((f) => f.name));
    try {
      return await db.transaction(async (tx): Promise<SyncOutcome> => {
        // The row lock serializes syncs of one ResourceSync; a changed spec means this run is stale.
        const generation = await syncStore.lockGeneration(tx, orgId, name);
        if (generation === undefined || generation !== rs.generation) return "superseded";
        const existing = await fleetStore.ownedOrNamed(tx, orgId, owner, [...wanted]);
        const taken = existing.filter((f) => wanted.has(f.name) && f.owner !== owner);
        if (taken.length > 0) {
          const who = taken.map((f) => `Fleet "${f.name}" ${f.owner ? `is owned by ${f.owner}` : "was created directly (no owner)"}`);
          set({
            type: SYNCED,
            status: "False",
            reason: REASONS.fail,
            message: `${who.join("; ")}; a ResourceSync never takes over a fleet it does not own; nothing was applied`,
          });
          await writeStatus(tx, orgId, rs, status);
          return "failed";
        }
        const fleets = kindServiceOn(fleetKind, tx, SOURCE_COMPONENT);
        let created = 0;
        let updated = 0;
        let deleted = 0;
        for (const f of parsed.fleets) {
          const r = await fleets.applyOwned(caller, f.fleet, owner);
          if (r.created) created++;
          else if (r.changed) updated++;
        }
        for (const f of existing) {
          if (f.owner === owner && !wanted.has(f.name)) {
            await fleets.deleteOwned(caller, f.name, owner);
            deleted++;
          }
        }
        const unchanged = parsed.fleets.length - created - updated;
        const summary = `${parsed.fleets.length} fleet(s) from commit ${commit}: ${created} created, ${updated} updated, ${deleted} deleted, ${unchanged} unchanged`;
        const done = {
          ...status,
          observedGeneration: rs.generation,
          conditions: setCondition(status.conditions, {
            type: SYNCED,
            status: "True",
            reason: REASONS.success,
            message: summary,
          }),
        };
        const completed = {
          detailType: "ResourceSyncCompleted",
          commitHash: commit,
          changeCount: created + updated + deleted,
          errorCount: 0,
        };
        await writeStatus(tx, orgId, rs, done, completed);
        return "synced";
      });
    } catch (e) {
      // A write refused by the fleet rules (e.g. a fleet taken by someone else since the check) rolls everything back.
      if (!(e instanceof DomainError)) throw e;
      return fail({ type: SYNCED, reason: REASONS.fail, message: `${e.message}; nothing was applied` });
    }
  }

  const tasks: TaskHandlers<"resourcesync_sync" | "resourcesync_poll"> = {
    [TASK_RESOURCESYNC_SYNC]: async (payload) => {
      const p = payload;
      await sync(p.orgId, p.name);
    },
    [TASK_RESOURCESYNC_POLL]: async () => {
      await queueAllSyncs(db);
    },
  };
  return { tasks, sync };
}
