// The fleet controller (graphile-worker tasks; they use stores and SQL, never RPC handlers):
// - fleet_selection: which fleet owns each device (one match → owner; several → owner kept and MultipleOwners; none →
//   released), with flightctl's events;
// - fleet_validate: a changed template becomes an immutable TemplateVersion v<generation> once it validates (the
//   fleet's Valid condition says why not), with the commits of its git dependencies pinned, then rolls out;
// - fleet_rollout: the current template version, its parameters filled in per device, becomes each owned device's
//   spec; changed devices are queued for rendering in the same transaction.
// All work on sets of devices with row locks, so running a task twice, or concurrently, converges to one state.
import { isDeepStrictEqual } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Task } from "graphile-worker";
import { sql, type SQL } from "drizzle-orm";
import { insertEventsSql, type NewEvent } from "../events/event-store.js";
import { setCondition } from "../platform/conditions.js";
import { textArray } from "../platform/pg-array.js";
import { batchTask } from "../platform/jobs.js";
import type { Db, Executor } from "../platform/resource/resource-store.js";
import {
  labelRequirementsToSql,
  labelSelectorFromMessage,
  type LabelRequirement,
  type LabelSelectorMessage,
} from "../platform/selectors/label-selector.js";
import { enqueueRenders } from "../devices/render-queue.js";
import { ANNOTATION_TEMPLATE_VERSION } from "../devices/device-annotations.js";
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
  enqueueRollout,
  TASK_FLEET_ROLLOUT,
  TASK_FLEET_SELECTION,
  TASK_FLEET_VALIDATE,
  type ResolvedCommits,
  type RolloutItem,
  type SelectionItem,
} from "./fleet-queue.js";
import { matchesRequirements } from "./rollout-math.js";
import type { RolloutPolicyJson as RolloutPolicy } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { createRolloutTasks, isManaged } from "./rollout-tasks.js";
import { DEVICE_TEMPLATE_FIELDS, renderFields, TemplateError, validateFields } from "../platform/template/template-params.js";

const actor = "service:flightctl-worker";
const source = "flightctl-worker";
/** Devices per transaction: bounds row locks and statement size. */
const CHUNK = 1000;

interface FleetRow {
  name: string;
  generation: string;
  spec: JsonObject;
  status: JsonObject | null;
  annotations: Record<string, string>;
}

/** A fleet's selector as requirements; undefined when empty (an empty selector matches no device). */
export function fleetSelector(spec: JsonObject): LabelRequirement[] | undefined {
  const sel = (spec.selector ?? {}) as LabelSelectorMessage;
  const reqs = labelSelectorFromMessage(sel);
  return reqs.length ? reqs : undefined;
}

const ownerOf = (fleet: string) => `Fleet/${fleet}`;
/** On a template version: the digest of the versions of the repositories it reads (see repository-refs.ts). */
export const ANNOTATION_TV_REPOSITORIES = "fleet-controller/repositoriesDigest";
const MULTIPLE_PREFIX = "Device matches multiple fleets: ";

const event = (kind: string, name: string, e: Omit<NewEvent, "actor" | "involvedObject" | "sourceComponent">): NewEvent => ({
  ...e,
  actor,
  involvedObject: { kind, name },
  sourceComponent: source,
});

export function createFleetTasks(db: Db, opts: { rolloutTickSeconds?: number; git?: GitClient } = {}) {
  async function loadFleets(exec: Executor, orgId: string, names?: string[]): Promise<FleetRow[]> {
    const r = await exec.execute(sql`select name, generation, spec, status, annotations from fleets where org_id = ${orgId}
      ${names ? sql`and name = any(${textArray(names)})` : sql``} order by name`);
    return (r.rows as unknown as FleetRow[]).map((f) => ({ ...f, generation: String(f.generation) }));
  }

  /** Recomputes the owner of every device a selection item may affect. */
  async function selection(orgId: string, items: SelectionItem[]): Promise<void> {
    const fleets = await loadFleets(db, orgId);
    const selectors = new Map(fleets.map((f) => [f.name, fleetSelector(f.spec)]));
    const fleetNames = [...new Set(items.flatMap((i) => ("fleet" in i ? [i.fleet] : [])))];
    const deviceNames = [...new Set(items.flatMap((i) => ("device" in i ? [i.device] : [])))];
    const conds: SQL[] = [];
    if (deviceNames.length) conds.push(sql`name = any(${textArray(deviceNames)})`);
    if (fleetNames.length) {
      conds.push(sql`owner = any(${textArray(fleetNames.map(ownerOf))})`);
      for (const f of fleetNames) {
        const reqs = selectors.get(f);
        if (reqs) conds.push(labelRequirementsToSql(reqs));
      }
      // A device torn between fleets may be freed by any fleet's change.
      conds.push(sql`status->'conditions' @> '[{"type":"MultipleOwners","status":"True"}]'`);
    }
    if (!conds.length) return;
    const found = await db.execute(sql`select name from devices where org_id = ${orgId} and (${sql.join(conds, sql` or `)}) order by name`);
    const names = (found.rows as { name: string }[]).map((r) => r.name);
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
      const r =
        await tx.execute(sql`select name, labels, owner, status from devices where org_id = ${orgId} and name = any(${textArray(names)})
        order by name for update`);
      const rows = r.rows as { name: string; labels: Record<string, string>; owner: string | null; status: JsonObject | null }[];
      const updates: { name: string; owner: string | null; status: JsonObject }[] = [];
      const events: NewEvent[] = [];
      const rollouts = new Map<string, string[]>();
      for (const d of rows) {
        // Devices owned by something other than a fleet are not the fleet controller's.
        if (d.owner && !d.owner.startsWith("Fleet/")) continue;
        const matching = fleets
          .filter((f) => {
            const reqs = selectors.get(f.name);
            return reqs !== undefined && matchesRequirements(d.labels, reqs);
          })
          .map((f) => f.name);
        const status = d.status ?? {};
        const conditions = (status.conditions ?? []) as JsonObject[];
        const multi = conditions.find((c) => c.type === "MultipleOwners");
        const wasMulti = multi?.status === "True";
        const previous = wasMulti
          ? String(multi!.message ?? "")
              .slice(MULTIPLE_PREFIX.length)
              .split(", ")
              .filter(Boolean)
          : [];
        const owner = matching.length === 1 ? ownerOf(matching[0]) : matching.length === 0 ? null : d.owner;
        let nextConditions = conditions;
        if (matching.length >= 2) {
          const message = `${MULTIPLE_PREFIX}${matching.join(", ")}`;
          if (!wasMulti || multi!.message !== message) {
            nextConditions = setCondition(conditions, { type: "MultipleOwners", status: "True", reason: "MultipleOwners", message });
            events.push(
              event("Device", d.name, {
                reason: "DeviceMultipleOwnersDetected",
                type: "Warning",
                message: message,
                details: { detailType: "DeviceMultipleOwnersDetected", matchingFleets: matching },
              }),
            );
          }
        } else if (wasMulti || (matching.length === 1 && !multi)) {
          nextConditions = setCondition(conditions, { type: "MultipleOwners", status: "False", reason: "SingleOwner", message: "" });
          if (wasMulti) {
            const deleted = previous.some((p) => !fleets.some((f) => f.name === p));
            const resolutionType = matching.length === 1 ? "SingleMatch" : deleted ? "FleetDeleted" : "NoMatch";
            events.push(
              event("Device", d.name, {
                reason: "DeviceMultipleOwnersResolved",
                type: "Normal",
                message: `Device multiple owners conflict was resolved: ${resolutionType}`,
                details: {
                  detailType: "DeviceMultipleOwnersResolved",
                  resolutionType,
                  assignedOwner: owner ?? "",
                  previousMatchingFleets: previous,
                },
              }),
            );
          }
        }
        if (owner !== d.owner) {
          events.push(
            event("Device", d.name, {
              reason: "ResourceUpdated",
              type: "Normal",
              message: "Device was updated successfully.",
              details: { detailType: "ResourceUpdated", updatedFields: ["owner"], previousOwner: d.owner ?? "", newOwner: owner ?? "" },
            }),
          );
        }
        if (owner !== d.owner || nextConditions !== conditions)
          updates.push({ name: d.name, owner, status: { ...status, conditions: nextConditions } });
        // A new member, or a member whose labels changed (template parameters read labels), gets the template.
        if (owner && matching.length === 1 && (owner !== d.owner || relabelled.has(d.name))) {
          const fleet = owner.slice("Fleet/".length);
          (rollouts.get(fleet) ?? rollouts.set(fleet, []).get(fleet)!).push(d.name);
        }
      }
      if (updates.length) {
        await tx.execute(sql`update devices d set owner = u.owner, status = u.status, resource_version = nextval('resource_version_seq')
            from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as u(name text, owner text, status jsonb)
           where d.org_id = ${orgId} and d.name = u.name`);
      }
      if (events.length) await tx.execute(insertEventsSql(orgId, events));
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
    template: JsonObject,
    resolved?: ResolvedCommits,
  ): Promise<{ problems: string[]; repositories: string; commits: Record<string, string> }> {
    const spec = (template.spec ?? {}) as JsonObject;
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
    spec: JsonObject,
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
    const [fleet] = await loadFleets(db, orgId, [fleetName]);
    if (!fleet) return;
    const template = (fleet.spec.template ?? {}) as JsonObject;
    const { problems, repositories, commits } = await templateProblems(orgId, template, resolved);
    await db.transaction(async (tx) => {
      const r = await tx.execute(
        sql`select generation, spec, status, annotations from fleets where org_id = ${orgId} and name = ${fleetName} for update`,
      );
      const row = r.rows[0] as
        | { generation: string | number; spec: JsonObject; status: JsonObject | null; annotations: Record<string, string> }
        | undefined;
      // Gone, or changed since it was read: the job queued by that change validates the newer template.
      if (!row || String(row.generation) !== fleet.generation) return;
      const status = row.status ?? {};
      const conditions = (status.conditions ?? []) as JsonObject[];
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
        const latest = current
          ? ((
              await tx.execute(
                sql`select status, annotations from template_versions where org_id = ${orgId} and fleet_name = ${fleetName} and name = ${current}`,
              )
            ).rows[0] as { status: JsonObject; annotations: Record<string, string> | null } | undefined)
          : undefined;
        const deviceSpec = (template.spec ?? {}) as JsonObject;
        const { updatedAt: _u, conditions: _c, ...frozen } = (latest?.status ?? {}) as JsonObject;
        const sameRepositories = (latest?.annotations?.[ANNOTATION_TV_REPOSITORIES] ?? "") === repositories;
        // Only a changed template, or a change of a repository it reads or of a commit it pins, makes a new version (a
        // selector or policy change bumps the generation too). The first version of a generation is v<generation>; one
        // made because a dependency changed is v<generation>-<digest>, as flightctl names versions made by a dependency change.
        if (!latest || !isDeepStrictEqual(frozen, deviceSpec) || !sameRepositories) {
          const plain = `v${fleet.generation}`;
          const taken =
            (
              await tx.execute(
                sql`select 1 from template_versions where org_id = ${orgId} and fleet_name = ${fleetName} and name = ${plain}`,
              )
            ).rows.length > 0;
          const tv = taken && repositories ? `${plain}-${repositories.slice(0, 8)}` : plain;
          const tvAnnotations = repositories
            ? { [ANNOTATION_TV_REPOSITORIES]: repositories, ...templateVersionCommitsAnnotation(commits) }
            : {};
          await tx.execute(sql`insert into template_versions (org_id, fleet_name, name, owner, labels, annotations, generation, spec, status)
              values (${orgId}, ${fleetName}, ${tv}, ${ownerOf(fleetName)}, '{}'::jsonb, ${JSON.stringify(tvAnnotations)}::jsonb, 1, ${JSON.stringify({ fleet: fleetName })}::jsonb,
                      ${JSON.stringify({ ...deviceSpec, updatedAt: new Date().toISOString() })}::jsonb)
            on conflict do nothing`);
          annotations = { ...annotations, [ANNOTATION_TEMPLATE_VERSION]: tv };
          const batched = !!((fleet.spec.rolloutPolicy ?? {}) as JsonObject).deviceSelection;
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
      if (!isDeepStrictEqual(nextConditions, conditions) || annotations !== row.annotations) {
        await tx.execute(sql`update fleets set status = ${JSON.stringify({ ...status, conditions: nextConditions })}::jsonb,
            annotations = ${JSON.stringify(annotations)}::jsonb, resource_version = nextval('resource_version_seq')
          where org_id = ${orgId} and name = ${fleetName}`);
      }
      if (events.length) await tx.execute(insertEventsSql(orgId, events));
    });
  }

  /**
   * Writes template version `version` (default: the fleet's current one), filled in per device, as the spec of the
   * owned devices (all, or `only`).
   */
  async function rollout(orgId: string, fleetName: string, only?: string[], version?: string): Promise<void> {
    const [fleet] = await loadFleets(db, orgId, [fleetName]);
    const tvName = version ?? fleet?.annotations[ANNOTATION_TEMPLATE_VERSION];
    if (!fleet || !tvName) return;
    const tv = (
      await db.execute(sql`select status from template_versions where org_id = ${orgId} and fleet_name = ${fleetName} and name = ${tvName}`)
    ).rows[0] as { status: JsonObject } | undefined;
    if (!tv) return;
    const { updatedAt: _u, conditions: _c, ...template } = tv.status;
    const found = await db.execute(sql`select name from devices where org_id = ${orgId} and owner = ${ownerOf(fleetName)}
      ${only ? sql`and name = any(${textArray(only)})` : sql``} order by name`);
    const names = (found.rows as { name: string }[]).map((r) => r.name);
    for (let i = 0; i < names.length; i += CHUNK) {
      const chunk = names.slice(i, i + CHUNK);
      await db.transaction(async (tx) => {
        const r = await tx.execute(sql`select name, labels, spec, annotations, status from devices
          where org_id = ${orgId} and owner = ${ownerOf(fleetName)} and name = any(${textArray(chunk)}) order by name for update`);
        const rows = r.rows as {
          name: string;
          labels: Record<string, string>;
          spec: JsonObject | null;
          annotations: Record<string, string>;
          status: JsonObject | null;
        }[];
        const updates: { name: string; spec: JsonObject; annotations: Record<string, string>; specChanged: boolean }[] = [];
        const invalid: { name: string; status: JsonObject }[] = [];
        const events: NewEvent[] = [];
        for (const d of rows) {
          // A device torn between fleets keeps what it has until the conflict is resolved.
          if (((d.status?.conditions ?? []) as JsonObject[]).some((c) => c.type === "MultipleOwners" && c.status === "True")) continue;
          let spec: JsonObject;
          try {
            spec = renderFields(template, DEVICE_TEMPLATE_FIELDS, { name: d.name, labels: d.labels }) as JsonObject;
          } catch (e) {
            if (!(e instanceof TemplateError)) throw e;
            const message = `template version ${tvName}: ${e.message}`;
            const conditions = (d.status?.conditions ?? []) as JsonObject[];
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
        if (updates.length) {
          await tx.execute(sql`update devices d set spec = u.spec, annotations = u.annotations,
                generation = d.generation + (case when u.spec_changed then 1 else 0 end), resource_version = nextval('resource_version_seq')
              from jsonb_to_recordset(${JSON.stringify(updates.map((u) => ({ name: u.name, spec: u.spec, annotations: u.annotations, spec_changed: u.specChanged })))}::jsonb)
                as u(name text, spec jsonb, annotations jsonb, spec_changed boolean)
             where d.org_id = ${orgId} and d.name = u.name`);
          // Unchanged specs are queued too: their render stays the same version but records the new template version.
          await enqueueRenders(
            tx,
            orgId,
            updates.map((u) => u.name),
          );
        }
        if (invalid.length) {
          await tx.execute(sql`update devices d set status = u.status, resource_version = nextval('resource_version_seq')
              from jsonb_to_recordset(${JSON.stringify(invalid)}::jsonb) as u(name text, status jsonb)
             where d.org_id = ${orgId} and d.name = u.name`);
        }
        if (events.length) await tx.execute(insertEventsSql(orgId, events));
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
  });

  const tasks: Record<string, Task> = {
    ...rollouts.tasks,
    [TASK_FLEET_SELECTION]: batchTask<SelectionItem>(db, TASK_FLEET_SELECTION, async (payload) => {
      for (const [orgId, items] of byOrg<SelectionItem>(payload)) await selection(orgId, items);
    }),
    [TASK_FLEET_VALIDATE]: async (payload) => {
      const { orgId, fleet, commits } = payload as { orgId: string; fleet: string; commits?: ResolvedCommits };
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
          const [row] = await loadFleets(db, orgId, [fleet]);
          if (row && isManaged(row.spec.rolloutPolicy as RolloutPolicy | undefined)) await rollouts.enqueueTick(orgId, fleet);
          else await rollout(orgId, fleet, devices);
        }
      }
    }),
  };
  return { selection, validate, rollout, tick: rollouts.tick, tasks };
}
