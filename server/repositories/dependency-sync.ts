// The dependency sync (flightctl's auto-sync of git dependencies): a new commit on a branch, or a moved tag, that a
// fleet's current template version or a standalone device reads reaches the devices without anyone touching them.
// - dependency_sync_poll (crontab, every 2 minutes): every fleet whose current template version reads a git
//   dependency, and every standalone device whose spec does, in every organization;
// - dependency_sync: the same for one fleet or one standalone device, on demand.
// Each (repository, revision) is resolved once per pass, however many fleets and devices read it, and compared with
// the commit recorded for what devices run (git-dependencies.ts). On a change: DependencyChangeDetected, then a fleet
// is validated again with the new commits (a new template version, rolled out under its rollout policy) and a
// standalone device gets the new commits recorded and is rendered again. A probe that fails records
// DependencySyncProbeFailed once per failure streak and changes nothing else: devices keep what they run.
import type { NewEvent } from "../platform/event-store.js";
import { ANNOTATION_TEMPLATE_VERSION } from "../devices/device-annotations.js";
import { standaloneFreezeKey } from "../devices/device-tasks.js";
import { enqueueRenders, enqueueValidate } from "../jobs/queues.js";
import { createDeviceStore } from "../devices/device-store.js";
import { createFleetStore } from "../fleets/fleet-store.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createDependencyStore } from "./dependency-store.js";
import type { GitClient } from "./git.js";
import {
  ANNOTATION_DEVICE_GIT_COMMITS,
  deviceCommits,
  deviceCommitsAnnotation,
  gitDependencies,
  resolveDependencies,
  templateVersionCommits,
  type GitDependency,
  type ProbeResult,
} from "./git-dependencies.js";
import { configRepositoryRefs, loadRepositories, type StoredRepository } from "./repository-refs.js";
import {
  type TaskHandlers,
  TASK_DEPENDENCY_SYNC,
  TASK_DEPENDENCY_SYNC_POLL,
  type DependencySyncItem,
  type ResolvedCommits,
} from "../jobs/catalog.js";

/** On a fleet or standalone device: JSON array of the dependency keys whose probe is failing (the streak's memory). */
export const ANNOTATION_FLEET_PROBE_FAILED = "fleet-controller/dependencyProbeFailed";
export const ANNOTATION_DEVICE_PROBE_FAILED = "device-controller/dependencyProbeFailed";

const actor = "service:dependency-sync";
const source = "flightctl-worker";
/** Devices per transaction: bounds row locks and statement size. */
const CHUNK = 1000;

/** What one pass did (logs and tests). */
export interface SyncResult {
  /** (repository, revision) pairs asked of git. */
  probes: number;
  /** Fleets validated again and standalone devices rendered again. */
  changed: number;
  /** Probes that failed. */
  failed: number;
}

/** A fleet or standalone device and the dependencies it reads. */
interface Target {
  name: string;
  annotations: Record<string, string>;
  deps: GitDependency[];
}
interface FleetTarget extends Target {
  templateVersion: string;
  pinned: Record<string, string>;
}
interface DeviceTarget extends Target {
  generation: string;
  freezeKey: string;
  /** undefined: nothing recorded under the current freeze key yet (a render is on its way). */
  recorded?: Record<string, string>;
}

/** Dependencies whose probe gave a commit other than the recorded one, and those whose probe failed. */
function compare(t: Target, recorded: Record<string, string> | undefined, probes: Map<string, ProbeResult>) {
  const changed: { dep: GitDependency; commit: string }[] = [];
  const failing: { dep: GitDependency; error: string }[] = [];
  for (const dep of t.deps) {
    const p = probes.get(dep.key);
    if (!p) continue;
    if ("error" in p) failing.push({ dep, error: p.error });
    else if (recorded && recorded[dep.key] !== p.commit) changed.push({ dep, commit: p.commit });
  }
  return { changed, failing };
}

function parseKeys(text: string | undefined): string[] {
  try {
    const v = text ? JSON.parse(text) : [];
    return Array.isArray(v) ? v.filter((k): k is string => typeof k === "string") : [];
  } catch {
    return [];
  }
}

/**
 * The failure streak annotation after this probe (undefined: unchanged; null: removed) and the keys whose streak
 * starts now (one event each, not one per poll).
 */
function failureStreak(current: string | undefined, failing: string[]): { value?: string | null; started: string[] } {
  const before = new Set(parseKeys(current));
  const now = [...new Set(failing)].sort();
  const value = now.length ? JSON.stringify(now) : null;
  const started = now.filter((k) => !before.has(k));
  return { value: value === (current ?? null) ? undefined : value, started };
}

/** Which fleets and standalone devices of an organization a pass looks at: all of a kind, or one by name. */
interface Scope {
  fleets?: { name?: string };
  devices?: { name?: string };
}

export function createDependencySyncTasks(db: Db, opts: { git: GitClient; concurrency?: number }) {
  const store = createDependencyStore(db);
  const fleetStore = createFleetStore(db);
  const deviceStore = createDeviceStore(db);
  const event = (kind: string, name: string, e: Omit<NewEvent, "actor" | "involvedObject" | "sourceComponent">): NewEvent => ({
    ...e,
    actor,
    involvedObject: { kind, name },
    sourceComponent: source,
  });
  const changeEvent = (kind: string, name: string, dep: GitDependency, commit: string) =>
    event(kind, name, {
      reason: "DependencyChangeDetected",
      type: "Normal",
      message: `${kind} dependency ${dep.key} changed: revision "${dep.revision}" of repository ${dep.repository} is now at commit ${commit.slice(0, 12)}.`,
      details: { detailType: "DependencyChangeDetected", resourceKey: dep.key, fingerprint: commit },
    });
  const probeFailedEvent = (kind: string, name: string, dep: GitDependency, error: string) =>
    event(kind, name, {
      reason: "DependencySyncProbeFailed",
      type: "Warning",
      message: `${kind} dependency ${dep.key} could not be checked: ${error}`,
      details: { detailType: "DependencySyncProbeFailed", resourceKey: dep.key, error },
    });

  async function loadFleets(orgId: string, name?: string): Promise<FleetTarget[]> {
    // The current template version's template, not the fleet's: a template change is validated by its own job.
    return (await store.gitDependentFleets(orgId, name)).map((f) => ({
      name: f.name,
      annotations: f.annotations,
      deps: gitDependencies(f.template),
      templateVersion: f.templateVersion,
      pinned: templateVersionCommits(f.templateVersionAnnotations),
    }));
  }

  /** Probes and reconciles one organization's fleets and standalone devices (those `scope` selects). */
  async function syncOrg(orgId: string, scope: Scope): Promise<SyncResult> {
    const fleets = scope.fleets ? (await loadFleets(orgId, scope.fleets.name)).filter((f) => f.deps.length) : [];
    const rows = scope.devices ? await deviceStore.standaloneReadingGit(orgId, scope.devices.name) : [];
    const readsOf = new Map(rows.map((d) => [d.name, configRepositoryRefs(d.spec).map((x) => x.repository)]));
    const repos = await loadRepositories(db, orgId, [
      ...fleets.flatMap((f) => f.deps.map((d) => d.repository)),
      ...[...readsOf.values()].flat(),
    ]);
    const devices: DeviceTarget[] = rows
      .map((d) => {
        const freezeKey = standaloneFreezeKey(d, readsOf.get(d.name) ?? [], repos);
        // Rendered but nothing recorded at all: rendered before commits were recorded, or as a fleet member before
        // the fleet let it go. What it runs is unknown, so every commit counts as new. Recorded under another freeze
        // key: its spec or a repository changed, and the render on its way resolves afresh.
        const recorded =
          deviceCommits(d.annotations, freezeKey) ?? (d.rendered && !(ANNOTATION_DEVICE_GIT_COMMITS in d.annotations) ? {} : undefined);
        return {
          name: d.name,
          annotations: d.annotations,
          generation: d.generation,
          deps: gitDependencies(d.spec),
          freezeKey,
          recorded,
        };
      })
      .filter((d) => d.deps.length);
    const probes = await resolveDependencies(
      opts.git,
      repos,
      [...fleets, ...devices].flatMap((t) => t.deps),
      opts.concurrency ?? 4,
    );
    let changed = 0;
    for (const f of fleets) if (await reconcileFleet(orgId, f, probes, repos)) changed++;
    for (let i = 0; i < devices.length; i += CHUNK) changed += await reconcileDevices(orgId, devices.slice(i, i + CHUNK), probes);
    return { probes: probes.size, changed, failed: [...probes.values()].filter((p) => "error" in p).length };
  }

  /** A fleet with a new commit is validated again, with the commits resolved here. True when it was. */
  async function reconcileFleet(
    orgId: string,
    f: FleetTarget,
    probes: Map<string, ProbeResult>,
    repos: Map<string, StoredRepository>,
  ): Promise<boolean> {
    const { changed, failing } = compare(f, f.pinned, probes);
    const streak = failureStreak(
      f.annotations[ANNOTATION_FLEET_PROBE_FAILED],
      failing.map((x) => x.dep.key),
    );
    // Nothing to say and nothing to write: no transaction either.
    if (!changed.length && streak.value === undefined) return false;
    return db.transaction(async (tx) => {
      const row = await fleetStore.lock(tx, orgId, f.name);
      // Gone, or a new template version was made meanwhile: the next pass compares with that one.
      if (!row || row.annotations[ANNOTATION_TEMPLATE_VERSION] !== f.templateVersion) return false;
      const events: NewEvent[] = [];
      if (changed.length) {
        const resolved: ResolvedCommits = {};
        for (const dep of f.deps) {
          const p = probes.get(dep.key);
          if (p && "commit" in p) resolved[dep.key] = { commit: p.commit, repositoryVersion: repos.get(dep.repository)!.version };
        }
        await enqueueValidate(tx, orgId, f.name, resolved);
        events.push(...changed.map((c) => changeEvent("Fleet", f.name, c.dep, c.commit)));
      }
      const now = failureStreak(
        row.annotations[ANNOTATION_FLEET_PROBE_FAILED],
        failing.map((x) => x.dep.key),
      );
      events.push(...failing.filter((x) => now.started.includes(x.dep.key)).map((x) => probeFailedEvent("Fleet", f.name, x.dep, x.error)));
      let annotations: Record<string, string> | undefined;
      if (now.value !== undefined) {
        annotations = { ...row.annotations };
        if (now.value === null) delete annotations[ANNOTATION_FLEET_PROBE_FAILED];
        else annotations[ANNOTATION_FLEET_PROBE_FAILED] = now.value;
      }
      await fleetStore.write(tx, orgId, f.name, annotations && { annotations }, events);
      return changed.length > 0;
    });
  }

  /**
   * Standalone devices with a new commit get it recorded (the render reads recorded commits) and are rendered again.
   * Returns how many.
   */
  async function reconcileDevices(orgId: string, devices: DeviceTarget[], probes: Map<string, ProbeResult>): Promise<number> {
    const work = devices
      .map((d) => ({ d, ...compare(d, d.recorded, probes) }))
      .filter(
        (w) =>
          w.changed.length ||
          failureStreak(
            w.d.annotations[ANNOTATION_DEVICE_PROBE_FAILED],
            w.failing.map((x) => x.dep.key),
          ).value !== undefined,
      );
    if (!work.length) return 0;
    return db.transaction(async (tx) => {
      const locked = new Map(
        (
          await deviceStore.lockStandalone(
            tx,
            orgId,
            work.map((w) => w.d.name),
          )
        ).map((x) => [x.name, x]),
      );
      const updates: { name: string; annotations: Record<string, string> }[] = [];
      const render: string[] = [];
      const events: NewEvent[] = [];
      for (const { d, changed, failing } of work) {
        const row = locked.get(d.name);
        // Gone, owned, or its spec or recorded commits changed meanwhile: the next pass looks again.
        if (
          !row ||
          row.generation !== d.generation ||
          row.annotations[ANNOTATION_DEVICE_GIT_COMMITS] !== d.annotations[ANNOTATION_DEVICE_GIT_COMMITS]
        ) {
          continue;
        }
        const annotations = { ...row.annotations };
        if (changed.length) {
          const commits = { ...d.recorded };
          for (const c of changed) commits[c.dep.key] = c.commit;
          annotations[ANNOTATION_DEVICE_GIT_COMMITS] = deviceCommitsAnnotation(d.freezeKey, commits);
          render.push(d.name);
          events.push(...changed.map((c) => changeEvent("Device", d.name, c.dep, c.commit)));
        }
        const now = failureStreak(
          row.annotations[ANNOTATION_DEVICE_PROBE_FAILED],
          failing.map((x) => x.dep.key),
        );
        events.push(
          ...failing.filter((x) => now.started.includes(x.dep.key)).map((x) => probeFailedEvent("Device", d.name, x.dep, x.error)),
        );
        if (now.value === null) delete annotations[ANNOTATION_DEVICE_PROBE_FAILED];
        else if (now.value !== undefined) annotations[ANNOTATION_DEVICE_PROBE_FAILED] = now.value;
        if (changed.length || now.value !== undefined) updates.push({ name: d.name, annotations });
      }
      await deviceStore.setAnnotations(tx, orgId, updates, events);
      if (render.length) await enqueueRenders(tx, orgId, render);
      return render.length;
    });
  }

  /** Every organization's fleets and standalone devices, or one fleet or device. One organization failing does not stop the others. */
  async function sync(target?: DependencySyncItem, log?: { error(msg: string): void }): Promise<SyncResult> {
    const total: SyncResult = { probes: 0, changed: 0, failed: 0 };
    let orgs: string[];
    let scope: Scope;
    if (target) {
      orgs = [target.orgId];
      scope = "fleet" in target ? { fleets: { name: target.fleet } } : { devices: { name: target.device } };
    } else {
      // Only organizations that have something to check.
      orgs = await store.orgsWithGitDependencies();
      scope = { fleets: {}, devices: {} };
    }
    for (const orgId of orgs) {
      try {
        const r = await syncOrg(orgId, scope);
        total.probes += r.probes;
        total.changed += r.changed;
        total.failed += r.failed;
      } catch (e) {
        if (!log || target) throw e;
        log.error(`dependency sync: org ${orgId}: ${(e as Error).message}`);
      }
    }
    return total;
  }

  const tasks: TaskHandlers<"dependency_sync_poll" | "dependency_sync"> = {
    [TASK_DEPENDENCY_SYNC_POLL]: async (_payload, helpers) => {
      const r = await sync(undefined, helpers.logger);
      if (r.changed || r.failed)
        helpers.logger.info(`dependency sync: ${r.probes} revision(s) checked, ${r.changed} changed, ${r.failed} probe(s) failed`);
    },
    [TASK_DEPENDENCY_SYNC]: async (payload) => {
      await sync(payload);
    },
  };
  return { sync, tasks };
}
