// The fleet controller (graphile-worker tasks; they use stores, never SQL or RPC handlers):
// - fleet_selection: which fleet owns each device (the rule: fleet-ownership.ts), applied to locked rows with its events;
// - fleet_validate: a changed template becomes an immutable TemplateVersion v<generation> once it validates (the
//   fleet's Valid condition says why not), with the commits of its git dependencies pinned, then rolls out;
// - fleet_rollout: the current template version, its parameters filled in per device, becomes each owned device's
//   spec; changed devices are queued for rendering in the same transaction.
// All work on sets of devices with row locks, so running a task twice, or concurrently, converges to one state.
import { isDeepStrictEqual } from "node:util";
import type { FleetSpecJson } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { NewEvent } from "../platform/event-store.js";
import { setCondition } from "../platform/conditions.js";
import { batchTask } from "../jobs/batch-task.js";
import type { Db } from "../platform/resource/resource-store.js";
import { labelSelectorFromMessage, type LabelRequirement, type LabelSelectorMessage } from "../platform/selectors/label-selector.js";
import { createTemplateVersionStore } from "../templateversions/templateversion-store.js";
import { enqueueRenders, enqueueRollout } from "../jobs/queues.js";
import { ANNOTATION_TEMPLATE_VERSION } from "../devices/device-annotations.js";
import { createDeviceStore } from "../devices/device-store.js";
import { createInlineRender } from "../devices/render-inline.js";
import type { InvalidTemplate, TemplateUpdate } from "../devices/device-rollout-store.js";
import type { OwnerUpdate } from "../devices/device-ownership-store.js";
import {
  configRepositoryRefs,
  loadRepositories,
  REPOSITORY_PROVIDERS,
  repositoriesDigest,
  repositoryProblem,
  type StoredRepository,
} from "../repositories/repository-refs.js";
import {
  gitDependencies,
  resolveDependencies,
  templateVersionCommitsAnnotation,
  type GitDependency,
} from "../repositories/git-dependencies.js";
import type { GitClient } from "../repositories/git.js";
import {
  type TaskHandlers,
  TASK_FLEET_ROLLOUT,
  TASK_FLEET_SELECTION,
  TASK_FLEET_VALIDATE,
  type ResolvedCommits,
  type RolloutItem,
  type SelectionItem,
} from "../jobs/catalog.js";
import { decideOwnership, fleetOwner } from "./fleet-ownership.js";
import { createRolloutTasks, isManaged } from "./rollout-tasks.js";
import { createFleetStore, type FleetRow } from "./fleet-store.js";
import { DEVICE_TEMPLATE_FIELDS, renderFields, TemplateError, validateFields } from "../platform/template/template-params.js";

const actor = "service:flightctl-worker";
const source = "flightctl-worker";
/** Devices per transaction: bounds row locks and statement size. */
const CHUNK = 1000;

/** A fleet's selector as requirements; undefined when empty (an empty selector matches no device). */
export function fleetSelector(spec: FleetSpecJson): LabelRequirement[] | undefined {
  const sel: LabelSelectorMessage = spec.selector ?? {};
  const reqs = labelSelectorFromMessage(sel);
  return reqs.length ? reqs : undefined;
}

const ownerOf = fleetOwner;
/** On a template version: the digest of the versions of the repositories it reads (see repository-refs.ts). */
export const ANNOTATION_TV_REPOSITORIES = "fleet-controller/repositoriesDigest";

const event = (kind: string, name: string, e: Omit<NewEvent, "actor" | "involvedObject" | "sourceComponent">): NewEvent => ({
  ...e,
  actor,
  involvedObject: { kind, name },
  sourceComponent: source,
});

export function createFleetTasks(db: Db, opts: { rolloutTickSeconds?: number; git?: GitClient } = {}) {
  const fleetStore = createFleetStore(db);
  const deviceStore = createDeviceStore(db);
  const templateVersions = createTemplateVersionStore(db);
  const renderInline = createInlineRender(db);

  /** Recomputes the owner of every device a selection item may affect. */
  async function selection(orgId: string, items: SelectionItem[]): Promise<void> {
    const fleets = await fleetStore.list(orgId);
    const selectors = new Map(fleets.map((f) => [f.name, fleetSelector(f.spec)]));
    const fleetNames = [...new Set(items.flatMap((i) => ("fleet" in i ? [i.fleet] : [])))];
    const deviceNames = [...new Set(items.flatMap((i) => ("device" in i ? [i.device] : [])))];
    const names = await deviceStore.selectionCandidates(orgId, {
      devices: deviceNames,
      fleets: { owners: fleetNames.map(ownerOf), selectors: fleetNames.map((f) => selectors.get(f)) },
    });
    const relabelled = new Set(deviceNames);
    for (let i = 0; i < names.length; i += CHUNK) await selectChunk(orgId, names.slice(i, i + CHUNK), fleets, selectors, relabelled);
  }

  async function selectChunk(
    orgId: string,
    names: string[],
    fleets: FleetRow[],
    selectors: Map<string, LabelRequirement[] | undefined>,
    relabelled: Set<string>,
  ) {
    await db.transaction(async (tx) => {
      const rows = await deviceStore.lockForSelection(tx, orgId, names);
      const updates: OwnerUpdate[] = [];
      const events: NewEvent[] = [];
      const rollouts = new Map<string, string[]>();
      const selecting = fleets.map((f) => ({ name: f.name, selector: selectors.get(f.name) }));
      for (const d of rows) {
        const decision = decideOwnership(d, selecting);
        events.push(...decision.events.map((e) => event("Device", d.name, e)));
        if (decision.changed) updates.push({ name: d.name, owner: decision.owner, status: decision.status ?? d.status ?? {} });
        // A new member, or a member whose labels changed (template parameters read labels), gets the template.
        const owner = decision.owner;
        if (owner?.startsWith("Fleet/") && decision.matching.length === 1 && (owner !== d.owner || relabelled.has(d.name))) {
          const fleet = owner.slice("Fleet/".length);
          (rollouts.get(fleet) ?? rollouts.set(fleet, []).get(fleet)!).push(d.name);
        }
      }
      await deviceStore.setOwners(tx, orgId, updates, events);
      for (const [fleet, devices] of rollouts) await enqueueRollout(tx, orgId, fleet, devices);
    });
  }

  /**
   * The template's problems, each naming its field (empty when it may become a template version), the commits of its
   * git dependencies, and the digest of the repositories it reads and of those commits (a template version is frozen
   * against both).
   */
  async function templateProblems(
    orgId: string,
    template: FleetSpecJson["template"],
    resolved?: ResolvedCommits,
  ): Promise<{ problems: string[]; repositories: string; commits: Record<string, string> }> {
    const spec: DeviceSpecJson = template?.spec ?? {};
    const problems = validateFields(spec, DEVICE_TEMPLATE_FIELDS).map((p) => `spec.template.spec.${p.path}: ${p.message}`);
    const refs = configRepositoryRefs(spec);
    const repos = await loadRepositories(
      db,
      orgId,
      refs.map((r) => r.repository),
    );
    for (const r of refs) {
      const problem = repositoryProblem(r.repository, repos.get(r.repository), REPOSITORY_PROVIDERS[r.provider]);
      if (problem) problems.push(`spec.template.spec.config[${r.index}].${r.provider}.repository: ${problem}`);
    }
    const commits = problems.length ? {} : await pinCommits(spec, repos, resolved);
    return {
      problems,
      repositories: repositoriesDigest(
        refs.map((r) => r.repository),
        repos,
        commits,
      ),
      commits,
    };
  }

  /**
   * The commits the template's git dependencies are at: those the dependency sync just resolved in the same
   * repository version, the others asked of git. One that cannot be resolved stays unpinned: the render resolves it
   * and says why it cannot.
   */
  async function pinCommits(
    spec: DeviceSpecJson,
    repos: Map<string, StoredRepository>,
    resolved?: ResolvedCommits,
  ): Promise<Record<string, string>> {
    const commits: Record<string, string> = {};
    const ask: GitDependency[] = [];
    for (const d of gitDependencies(spec)) {
      const known = resolved?.[d.key];
      if (known && known.repositoryVersion === repos.get(d.repository)?.version) commits[d.key] = known.commit;
      else ask.push(d);
    }
    if (opts.git && ask.length) {
      for (const [key, r] of await resolveDependencies(opts.git, repos, ask)) if ("commit" in r) commits[key] = r.commit;
    }
    return commits;
  }

  /**
   * Validates the fleet's template; a valid new template, or a new commit of a git dependency, becomes a template
   * version and rolls out.
   */
  async function validate(orgId: string, fleetName: string, resolved?: ResolvedCommits): Promise<void> {
    const fleet = await fleetStore.get(orgId, fleetName);
    if (!fleet) return;
    const template = fleet.spec.template ?? {};
    const { problems, repositories, commits } = await templateProblems(orgId, template, resolved);
    await db.transaction(async (tx) => {
      const row = await fleetStore.lock(tx, orgId, fleetName);
      // Gone, or changed since it was read: the job queued by that change validates the newer template.
      if (!row || row.generation !== fleet.generation) return;
      const status = row.status ?? {};
      const conditions = status.conditions ?? [];
      const wasValid = conditions.find((c) => c.type === "Valid");
      const events: NewEvent[] = [];
      const valid = problems.length === 0;
      const message = valid ? "" : problems.join("; ");
      if (wasValid?.status !== (valid ? "True" : "False") || (!valid && wasValid?.message !== message)) {
        events.push(
          event(
            "Fleet",
            fleetName,
            valid
              ? { reason: "FleetValid", type: "Normal", message: "Fleet template is valid." }
              : { reason: "FleetInvalid", type: "Warning", message: `Fleet template is invalid: ${message}` },
          ),
        );
      }
      const nextConditions = setCondition(conditions, {
        type: "Valid",
        status: valid ? "True" : "False",
        reason: valid ? "Valid" : "Invalid",
        message,
      });
      let annotations = row.annotations;
      if (valid) {
        const current = annotations[ANNOTATION_TEMPLATE_VERSION];
        const latest = current ? await templateVersions.get(orgId, fleetName, current, tx) : undefined;
        const deviceSpec: DeviceSpecJson = template.spec ?? {};
        const { updatedAt: _u, conditions: _c, ...frozen } = latest?.status ?? {};
        const sameRepositories = (latest?.annotations?.[ANNOTATION_TV_REPOSITORIES] ?? "") === repositories;
        // Only a changed template, or a change of a repository it reads or of a commit it pins, makes a new version (a
        // selector or policy change bumps the generation too). The first version of a generation is v<generation>; one
        // made because a dependency changed is v<generation>-<digest>, as flightctl names versions made by a dependency change.
        if (!latest || !isDeepStrictEqual(frozen, deviceSpec) || !sameRepositories) {
          const plain = `v${fleet.generation}`;
          const taken = await templateVersions.exists(orgId, fleetName, plain, tx);
          const tv = taken && repositories ? `${plain}-${repositories.slice(0, 8)}` : plain;
          const tvAnnotations = repositories
            ? { [ANNOTATION_TV_REPOSITORIES]: repositories, ...templateVersionCommitsAnnotation(commits) }
            : {};
          await templateVersions.insert(tx, orgId, {
            fleet: fleetName,
            name: tv,
            owner: ownerOf(fleetName),
            annotations: tvAnnotations,
            template: deviceSpec,
          });
          annotations = { ...annotations, [ANNOTATION_TEMPLATE_VERSION]: tv };
          const batched = !!fleet.spec.rolloutPolicy?.deviceSelection;
          events.push(
            event("Fleet", fleetName, {
              reason: "FleetRolloutStarted",
              type: "Normal",
              message: `Fleet rollout of template version ${tv} started.`,
              details: { detailType: "FleetRolloutStarted", templateVersion: tv, rolloutStrategy: batched ? "Batched" : "None" },
            }),
          );
          await enqueueRollout(tx, orgId, fleetName);
        }
      }
      const changed = !isDeepStrictEqual(nextConditions, conditions) || annotations !== row.annotations;
      await fleetStore.write(
        tx,
        orgId,
        fleetName,
        changed ? { status: { ...status, conditions: nextConditions }, annotations } : undefined,
        events,
      );
    });
  }

  /**
   * Writes template version `version` (default: the fleet's current one), filled in per device, as the spec of the
   * owned devices (all, or `only`).
   */
  async function rollout(orgId: string, fleetName: string, only?: string[], version?: string): Promise<void> {
    const fleet = await fleetStore.get(orgId, fleetName);
    const tvName = version ?? fleet?.annotations[ANNOTATION_TEMPLATE_VERSION];
    if (!fleet || !tvName) return;
    const tv = await templateVersions.get(orgId, fleetName, tvName);
    if (!tv) return;
    const { updatedAt: _u, conditions: _c, ...template } = tv.status;
    const names = await deviceStore.ownedNames(orgId, ownerOf(fleetName), only);
    for (let i = 0; i < names.length; i += CHUNK) {
      const chunk = names.slice(i, i + CHUNK);
      await db.transaction(async (tx) => {
        const rows = await deviceStore.lockOwned(tx, orgId, ownerOf(fleetName), chunk);
        const updates: TemplateUpdate[] = [];
        const invalid: InvalidTemplate[] = [];
        const events: NewEvent[] = [];
        for (const d of rows) {
          // A device torn between fleets keeps what it has until the conflict is resolved.
          if ((d.status?.conditions ?? []).some((c) => c.type === "MultipleOwners" && c.status === "True")) continue;
          let spec: DeviceSpecJson;
          try {
            spec = renderFields(template, DEVICE_TEMPLATE_FIELDS, { name: d.name, labels: d.labels }) as DeviceSpecJson;
          } catch (e) {
            if (!(e instanceof TemplateError)) throw e;
            const message = `template version ${tvName}: ${e.message}`;
            const conditions = d.status?.conditions ?? [];
            if (conditions.some((c) => c.type === "SpecValid" && c.message === message)) continue;
            invalid.push({
              name: d.name,
              status: {
                ...(d.status ?? {}),
                conditions: setCondition(conditions, { type: "SpecValid", status: "False", reason: "Invalid", message }),
              },
            });
            events.push(event("Device", d.name, { reason: "DeviceSpecInvalid", type: "Warning", message }));
            continue;
          }
          const specChanged = !isDeepStrictEqual(spec, d.spec ?? {});
          if (!specChanged && d.annotations[ANNOTATION_TEMPLATE_VERSION] === tvName) continue;
          updates.push({ name: d.name, spec, annotations: { ...d.annotations, [ANNOTATION_TEMPLATE_VERSION]: tvName }, specChanged });
          if (specChanged) {
            events.push(
              event("Device", d.name, {
                reason: "ResourceUpdated",
                type: "Normal",
                message: "Device was updated successfully.",
                details: { detailType: "ResourceUpdated", updatedFields: ["spec"] },
              }),
            );
          }
        }
        // Rendered here when the template needs nothing fetched (one write per device); the others are queued.
        // Unchanged specs are rendered too: their render stays the same version but records the new template version.
        const byName = new Map(rows.map((d) => [d.name, d]));
        const { rendered, queued } = await renderInline(
          tx,
          orgId,
          [fleetName],
          updates.map((u) => ({
            name: u.name,
            owner: ownerOf(fleetName),
            spec: u.spec,
            status: byName.get(u.name)!.status,
            annotations: u.annotations,
          })),
        );
        for (const u of updates) {
          const r = rendered.get(u.name);
          if (!r) continue;
          u.annotations = r.annotations;
          u.statusPatch = r.statusPatch;
          for (const e of r.events) events.push(event("Device", u.name, e));
        }
        await deviceStore.applyTemplate(tx, orgId, updates, invalid, events);
        if (queued.length) await enqueueRenders(tx, orgId, queued);
      });
    }
  }

  const byOrg = <T extends { orgId: string }>(payload: unknown): Map<string, T[]> => {
    const out = new Map<string, T[]>();
    for (const item of (Array.isArray(payload) ? payload : [payload]) as T[])
      (out.get(item.orgId) ?? out.set(item.orgId, []).get(item.orgId)!).push(item);
    return out;
  };

  const rollouts = createRolloutTasks(db, {
    apply: (o, f, only, tv) => rollout(o, f, only, tv),
    tickSeconds: opts.rolloutTickSeconds ?? 30,
    stores: { fleets: fleetStore, devices: deviceStore },
  });

  const tasks: TaskHandlers<"fleet_selection" | "fleet_validate" | "fleet_rollout" | "fleet_rollout_tick" | "fleet_rollout_sweep"> = {
    ...rollouts.tasks,
    [TASK_FLEET_SELECTION]: batchTask<SelectionItem>(db, TASK_FLEET_SELECTION, async (payload) => {
      for (const [orgId, items] of byOrg<SelectionItem>(payload)) await selection(orgId, items);
    }),
    [TASK_FLEET_VALIDATE]: async (payload) => {
      const { orgId, fleet, commits } = payload;
      await validate(orgId, fleet, commits);
    },
    [TASK_FLEET_ROLLOUT]: batchTask<RolloutItem>(db, TASK_FLEET_ROLLOUT, async (payload) => {
      for (const [orgId, items] of byOrg<RolloutItem>(payload)) {
        const fleets = new Map<string, string[] | undefined>();
        for (const i of items) {
          // One whole-fleet item covers every device item of the same fleet.
          if (!i.device) fleets.set(i.fleet, undefined);
          else if (!fleets.has(i.fleet)) fleets.set(i.fleet, [i.device]);
          else fleets.get(i.fleet)?.push(i.device);
        }
        for (const [fleet, devices] of fleets) {
          // A rollout policy decides who gets the template when: its tick takes over.
          const row = await fleetStore.get(orgId, fleet);
          if (row && isManaged(row.spec.rolloutPolicy)) await rollouts.enqueueTick(orgId, fleet);
          else await rollout(orgId, fleet, devices);
        }
      }
    }),
  };
  return { selection, validate, rollout, tick: rollouts.tick, tasks };
}
