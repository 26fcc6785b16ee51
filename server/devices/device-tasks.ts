// Background work on devices (graphile-worker tasks; they call services and stores, never RPC handlers):
// render_devices turns a device's spec into its rendered spec and version; disconnect_sweep marks devices that stopped
// reporting. Both are idempotent: running one twice changes nothing the second time.
import type { DeviceSpecJson, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { batchTask } from "../jobs/batch-task.js";
import { insertEvent, type NewEvent } from "../platform/event-store.js";
import { type TaskHandlers, TASK_RENDER_DEVICES, type RenderJob } from "../jobs/catalog.js";
import { ANNOTATION_TEMPLATE_VERSION } from "./device-annotations.js";
import { renderMark, statusPatch } from "./render-mark.js";
import type { Db, Executor } from "../platform/db.js";
import { createDeviceStore, type DeviceRecord, type RenderMark, type RenderSource } from "./device-store.js";
import { createTemplateVersionStore, type TemplateVersionStore } from "../templateversions/templateversion-store.js";
import { DISCONNECTED_AFTER_MS, disconnectedStatus, statusTransitions, type StatusEvent } from "./device-status.js";
import { createRenderStore } from "./render-store.js";
import { rendersHeldBack } from "./reconnect.js";
import { createAppOverrideStore } from "./app-override-store.js";
import { applyAppOverrides, overridesFor } from "./app-overrides.js";
import { renderDevice, RenderError, type ConfigResolver } from "./renderer.js";
import { configRepositoryRefs, loadRepositories, repositoriesDigest, type StoredRepository } from "../repositories/repository-refs.js";
import {
  ANNOTATION_DEVICE_GIT_COMMITS,
  deviceCommits,
  deviceCommitsAnnotation,
  gitDependencies,
  templateVersionCommits,
} from "../repositories/git-dependencies.js";

const actor = "service:flightctl-worker";

export function createDeviceTasks(db: Db, opts: { resolvers?: Record<string, ConfigResolver> } = {}) {
  const devices = createDeviceStore(db);
  const renders = createRenderStore(db);
  const overrides = createAppOverrideStore(db);
  const templateVersions = createTemplateVersionStore(db);

  async function events(tx: Executor, orgId: string, name: string, list: StatusEvent[]) {
    for (const e of list)
      await insertEvent(tx, orgId, { ...e, actor, involvedObject: { kind: "Device", name }, sourceComponent: "flightctl-worker" });
  }

  /** CAS-updates a device's status with `next(status)`; `extra` runs in the same transaction. */
  async function updateStatus(
    r: DeviceRecord,
    orgId: string,
    status: DeviceStatusJson,
    list: StatusEvent[],
    extra?: (tx: Executor) => Promise<void>,
  ) {
    return devices.update({ orgId, name: r.name }, r.resourceVersion, { ...r, status }, undefined, async (tx) => {
      await events(tx, orgId, r.name, list);
      await extra?.(tx);
    });
  }

  /**
   * Renders devices of one org in set-based statements: their rows are locked for the transaction, so the status
   * written with each new version cannot lose a race; versions bump only where the content hash changed.
   */
  async function renderMany(orgId: string, names: string[]): Promise<void> {
    const unique = [...new Set(names)].sort();
    for (let i = 0; i < unique.length; i += RENDER_CHUNK) await renderChunk(orgId, unique.slice(i, i + RENDER_CHUNK));
  }

  async function renderChunk(orgId: string, names: string[]): Promise<void> {
    // Resolvers may fetch (git, http): resolve before taking row locks, then check the spec did not change meanwhile.
    const before = await devices.renderSources(db, orgId, names);
    const keys = await freezeKeys(templateVersions, db, orgId, before);
    // Start/stop/restart overrides: read with the sources; an action queues a render after it commits, so one that
    // lands meanwhile is rendered by that next run.
    const fleets = [...new Set(before.flatMap((r) => (r.owner?.startsWith("Fleet/") ? [r.owner.slice("Fleet/".length)] : [])))];
    const stored = await overrides.forRender(orgId, names, fleets);
    const results = new Map<string, { spec: DeviceSpecJson; hash: string } | RenderError>();
    for (const row of before) {
      try {
        const { freezeKey, commits } = keys.get(row.name)!;
        results.set(
          row.name,
          await renderDevice({
            orgId,
            name: row.name,
            spec: applyAppOverrides(row.spec, overridesFor(stored, row.name, row.owner)),
            resolvers: opts.resolvers,
            freezeKey,
            commits,
          }),
        );
      } catch (e) {
        if (!(e instanceof RenderError)) throw e;
        results.set(row.name, e);
      }
    }
    const generations = new Map(before.map((r) => [r.name, r.generation]));
    const recordedBefore = new Map(before.map((r) => [r.name, r.annotations[ANNOTATION_DEVICE_GIT_COMMITS]]));
    const stale: string[] = [];
    await db.transaction(async (tx) => {
      // Rows still at the version read before are reused; only those written meanwhile are read again.
      const locked = await devices.lockForRender(tx, orgId, names);
      const readBefore = new Map(before.map((r) => [r.name, r]));
      const moved = locked.filter((l) => readBefore.get(l.name)?.version !== l.version).map((l) => l.name);
      const reread = new Map((moved.length ? await devices.renderSources(tx, orgId, moved) : []).map((r) => [r.name, r]));
      const rows = locked.map((l) => reread.get(l.name) ?? readBefore.get(l.name)!);
      const present = new Set(rows.map((r) => r.name));
      await renders.deleteMany(
        tx,
        orgId,
        names.filter((n) => !present.has(n)),
      );
      const puts: { name: string; spec: DeviceSpecJson; hash: string }[] = [];
      // Awaited after a restore, or paused on a conflict: the device keeps its render until it reports or is resumed.
      const held = new Set(rows.filter((r) => rendersHeldBack(r.annotations)).map((r) => r.name));
      for (const r of rows) {
        const res = results.get(r.name);
        if (held.has(r.name)) continue;
        if (generations.get(r.name) !== r.generation || !res) stale.push(r.name);
        else if (!(res instanceof RenderError)) puts.push({ name: r.name, ...res });
      }
      const versions = await renders.putMany(tx, orgId, puts);
      const staleSet = new Set(stale);
      const statuses: RenderMark[] = [];
      const list: NewEvent[] = [];
      for (const r of rows) {
        const res = results.get(r.name);
        if (!res || staleSet.has(r.name) || held.has(r.name)) continue;
        const mark = renderMark(r, res, versions.get(r.name));
        const next = mark.status;
        let annotations = mark.annotations;
        const changes = mark.events;
        // A standalone device records the git commits its render read (a failed render too, as far as it got), which
        // the dependency sync compares with the branch tips; not when the sync moved them on while this render ran (the
        // render it queued reads the newer ones).
        const frozen = keys.get(r.name)!;
        const current = r.annotations[ANNOTATION_DEVICE_GIT_COMMITS];
        if (!r.owner && current === recordedBefore.get(r.name) && (Object.keys(frozen.commits).length || gitDependencies(r.spec).length)) {
          const recorded = deviceCommitsAnnotation(frozen.freezeKey, frozen.commits);
          if (current !== recorded) annotations = { ...annotations, [ANNOTATION_DEVICE_GIT_COMMITS]: recorded };
        }
        if (next === r.status && annotations === r.annotations) continue;
        statuses.push({ name: r.name, statusPatch: statusPatch(r.status, next), annotations });
        for (const e of changes)
          list.push({ ...e, actor, involvedObject: { kind: "Device", name: r.name }, sourceComponent: "flightctl-worker" });
      }
      await devices.markRendered(tx, orgId, statuses, list);
    });
    // A spec that changed while its providers were resolved renders again from the newer spec.
    if (stale.length) await renderChunk(orgId, stale);
  }

  /**
   * Devices not heard from for 5 minutes (`afterMs`: tests use less): summary, updated and applications turn Unknown,
   * with DeviceDisconnected.
   */
  async function sweep(limit = 1000, afterMs = DISCONNECTED_AFTER_MS): Promise<number> {
    let marked = 0;
    for (const { orgId, name } of await devices.disconnectedCandidates(afterMs / 1000, limit)) {
      const r = await devices.get({ orgId, name });
      if (!r) continue;
      const render = await renders.get(orgId, name);
      const previous = r.status ?? {};
      const next = disconnectedStatus(previous, { annotations: r.annotations, renderedVersion: render?.renderedVersion });
      // A concurrent report means the device is alive after all: skip it (no retry).
      if (await updateStatus(r, orgId, next, statusTransitions(previous, next))) marked++;
    }
    return marked;
  }

  const tasks: TaskHandlers<"render_devices" | "disconnect_sweep"> = {
    // A batch job: payloads added under the same job key before it ran are merged into one array.
    [TASK_RENDER_DEVICES]: batchTask<RenderJob>(db, TASK_RENDER_DEVICES, async (items) => {
      const byOrg = new Map<string, string[]>();
      for (const { orgId, name } of items) (byOrg.get(orgId) ?? byOrg.set(orgId, []).get(orgId)!).push(name);
      for (const [orgId, names] of byOrg) await renderMany(orgId, names);
    }),
    disconnect_sweep: async (_payload, helpers) => {
      const marked = await sweep();
      if (marked > 0) helpers.logger.info(`marked ${marked} device(s) disconnected`);
    },
  };
  /** Renders one device (tests and callers outside the queue). */
  const render = (orgId: string, name: string) => renderMany(orgId, [name]);
  return { render, renderMany, sweep, tasks };
}

/**
 * Devices per render transaction: bounds row locks and statement size. Status reports of these devices wait for the
 * transaction (lock, renders upsert, marks, events; resolving is done before it): 200 keeps that wait short when a
 * render overlaps reports (500 made report batches wait 19-24 ms a lock in test/bench/RESULTS.md's profile).
 */
const RENDER_CHUNK = 200;

/**
 * What each device's external content (git, http) is frozen under, and the git commits pinned for its render. A fleet
 * member's follows its template version (whose commits were resolved when it was made); a standalone device's follows
 * its spec generation and the repositories it reads (a changed repository re-renders it with fresh content), with the
 * commits recorded under that key, while a fleet member gets a new template version from the fleet controller instead.
 * Creation times keep a fleet or device deleted and created again under the same name from reusing old frozen content.
 */
async function freezeKeys(
  templateVersions: TemplateVersionStore,
  exec: Executor,
  orgId: string,
  rows: RenderSource[],
): Promise<Map<string, Frozen>> {
  const versionOf = (r: RenderSource) => (r.owner?.startsWith("Fleet/") ? r.annotations?.[ANNOTATION_TEMPLATE_VERSION] : undefined);
  const members = rows.filter(versionOf);
  const tvCreated = new Map<string, { created: string; commits: Record<string, string> }>();
  if (members.length) {
    const pairs = [...new Set(members.map((r) => JSON.stringify([r.owner!.slice("Fleet/".length), versionOf(r)])))].map(
      (p) => JSON.parse(p) as [string, string],
    );
    const stamps = await templateVersions.stamps(
      orgId,
      pairs.map(([fleet, name]) => ({ fleet, name })),
      exec,
    );
    for (const r of stamps)
      tvCreated.set(`Fleet/${r.fleet}/${r.name}`, { created: r.created, commits: templateVersionCommits(r.annotations) });
  }
  const standalone = new Map(rows.filter((r) => !versionOf(r)).map((r) => [r.name, configRepositoryRefs(r.spec).map((x) => x.repository)]));
  const repos = await loadRepositories(exec, orgId, [...standalone.values()].flat());
  const out = new Map<string, Frozen>();
  for (const r of rows) {
    const tv = versionOf(r);
    if (tv) {
      const key = `${r.owner}/${tv}`;
      const version = tvCreated.get(key);
      // Copied: the render adds what it resolves (revisions with template parameters) to its own map.
      out.set(r.name, { freezeKey: `${key}@${version?.created ?? ""}`, commits: { ...version?.commits } });
    } else {
      const freezeKey = standaloneFreezeKey(r, standalone.get(r.name) ?? [], repos);
      out.set(r.name, { freezeKey, commits: deviceCommits(r.annotations, freezeKey) ?? {} });
    }
  }
  return out;
}

interface Frozen {
  freezeKey: string;
  commits: Record<string, string>;
}

/** A standalone device's freeze key: its creation, spec generation and the versions of the repositories it reads. */
export function standaloneFreezeKey(
  d: { name: string; created: string; generation: string },
  repositories: string[],
  repos: Map<string, StoredRepository>,
): string {
  return `device/${d.name}@${d.created}/${d.generation}${repositories.length ? `/${repositoriesDigest(repositories, repos)}` : ""}`;
}
