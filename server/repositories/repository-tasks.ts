// Repository background work (graphile-worker tasks):
// - repository_test: the repository tester. Sets each repository's `Accessible` condition (reason Accessible or
//   Inaccessible, the message says why), writing only when it changed, with RepositoryAccessible /
//   RepositoryInaccessible events on transitions. Queued for one repository when it is created or its spec changes,
//   and for every repository of every organization by the crontab (every 2 minutes, as flightctl).
// - repository_update: a repository's spec changed (or it was created or deleted): the fleets whose template reads it
//   are validated again (a new template version fetches the new content and rolls out) and the standalone devices
//   that read it are rendered again, each with a ReferencedRepositoryUpdated event.
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { RepositoryStatusJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { insertEvents, type NewEvent } from "../platform/event-store.js";
import { createDeviceStore } from "../devices/device-store.js";
import { createFleetStore } from "../fleets/fleet-store.js";
import { setCondition } from "../platform/conditions.js";
import { eachLimited } from "../platform/concurrency.js";
import type { Db } from "../platform/resource/resource-store.js";
import { kindStore } from "../platform/resource/kind.js";
import { repositoryKind } from "./repository-service.js";
import { enqueueRenders, enqueueValidate } from "../jobs/queues.js";
import type { GitClient } from "./git.js";
import { testRepository } from "./repository-tester.js";
import { configRepositoryRefs } from "./repository-refs.js";
import { listAllRepositories } from "./repository-store.js";
import { type TaskHandlers, TASK_REPOSITORY_TEST, TASK_REPOSITORY_UPDATE, type RepositoryUpdateItem } from "../jobs/catalog.js";

const actor = "service:repository-tester";
const source = "flightctl-worker";
const MAX_CAS_ATTEMPTS = 5;

export function createRepositoryTasks(db: Db, opts: { git: GitClient; concurrency?: number }) {
  const store = kindStore(repositoryKind, db);
  const fleetStore = createFleetStore(db);
  const deviceStore = createDeviceStore(db);

  /** Tests one repository and records the result; true when its condition changed. */
  async function test(orgId: string, name: string): Promise<boolean> {
    const key = { orgId, name };
    const tested = await store.get(key);
    if (!tested?.spec) return false;
    const result = await testRepository(tested.spec, opts.git);
    const next = {
      type: "Accessible",
      status: result.accessible ? "True" : "False",
      reason: result.accessible ? "Accessible" : "Inaccessible",
      message: result.message,
    } as const;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const r = attempt === 0 ? tested : await store.get(key);
      // Gone, or its spec changed while it was tested: the job queued by that change tests the new spec.
      if (!r || r.generation !== tested.generation) return false;
      const status: RepositoryStatusJson = r.status ?? {};
      const conditions = status.conditions ?? [];
      const prev = conditions.find((c) => c.type === "Accessible");
      if (prev && prev.status === next.status && prev.reason === next.reason && prev.message === next.message) return false;
      const event: NewEvent | undefined =
        prev?.status === next.status
          ? undefined
          : {
              reason: result.accessible ? "RepositoryAccessible" : "RepositoryInaccessible",
              type: result.accessible ? "Normal" : "Warning",
              message: result.accessible ? "Repository is accessible." : `Repository is inaccessible: ${result.message}.`,
              actor,
              involvedObject: { kind: "Repository", name },
              sourceComponent: source,
            };
      const written = await store.update(
        key,
        r.resourceVersion,
        { ...r, status: { ...status, conditions: setCondition(conditions, next) } },
        event,
      );
      if (written) return true;
    }
    return false;
  }

  /** Tests every repository of every organization, a few at a time; one failure does not stop the others. */
  async function testAll(log?: { error(msg: string): void }): Promise<void> {
    await eachLimited(await listAllRepositories(db), opts.concurrency ?? 8, async (row) => {
      try {
        await test(row.orgId, row.name);
      } catch (e) {
        log?.error(`repository tester: ${row.name} (org ${row.orgId}): ${(e as Error).message}`);
      }
    });
  }

  /** Queues what reads the changed repositories of one org: fleet validation, standalone device renders. */
  async function propagate(orgId: string, repositories: string[]): Promise<void> {
    const names = [...new Set(repositories)];
    if (!names.length) return;
    const fleets = await fleetStore.readingRepositories(orgId, names);
    // Fleet members follow their fleet's new template version; only devices without an owner are rendered here.
    const devices = await deviceStore.standaloneReadingRepositories(orgId, names);
    const changed = new Set(names);
    const events: NewEvent[] = [];
    const referenced = (kind: string, name: string, spec: DeviceSpecJson | undefined) => {
      for (const repository of new Set(configRepositoryRefs(spec).map((r) => r.repository))) {
        if (!changed.has(repository)) continue;
        events.push({
          reason: "ReferencedRepositoryUpdated",
          type: "Normal",
          message: `${kind} was updated because referenced repository ${repository} was updated.`,
          actor: "service:flightctl-worker",
          involvedObject: { kind, name },
          sourceComponent: source,
          details: { detailType: "ReferencedRepositoryUpdated", repository },
        });
      }
    };
    for (const f of fleets) referenced("Fleet", f.name, f.spec.template?.spec);
    for (const d of devices) referenced("Device", d.name, d.spec);
    if (!fleets.length && !devices.length) return;
    await db.transaction(async (tx) => {
      for (const f of fleets) await enqueueValidate(tx, orgId, f.name);
      if (devices.length)
        await enqueueRenders(
          tx,
          orgId,
          devices.map((d) => d.name),
        );
      await insertEvents(tx, orgId, events);
    });
  }

  const tasks: TaskHandlers<"repository_test" | "repository_update"> = {
    [TASK_REPOSITORY_TEST]: async (payload, helpers) => {
      const one = payload as { orgId?: string; name?: string } | null;
      if (one?.orgId && one.name) await test(one.orgId, one.name);
      else await testAll(helpers.logger);
    },
    [TASK_REPOSITORY_UPDATE]: async (payload) => {
      const byOrg = new Map<string, string[]>();
      for (const { orgId, repository } of (Array.isArray(payload) ? payload : [payload]) as RepositoryUpdateItem[]) {
        (byOrg.get(orgId) ?? byOrg.set(orgId, []).get(orgId)!).push(repository);
      }
      for (const [orgId, names] of byOrg) await propagate(orgId, names);
    },
  };
  return { test, testAll, propagate, tasks };
}
