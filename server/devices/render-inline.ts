// The rollout's inline render. A fleet template whose config is all inline needs nothing fetched, so the rollout
// renders it in its own transaction, on the rows it already holds locked, and the device row is written once: spec,
// template version and what the render marks on it (updated: OutOfDate, renderedTemplateVersion, SpecValid), with the
// render itself (device_renders, notified at commit). Without it the render task wrote the same rows again a moment
// later (a second non-HOT rewrite of every device, and its row locks against the status reports). Templates that read
// git or http (resolved outside row locks by the render task) and devices whose renders are held back go through the
// render task as before.
import type { DeviceSpecJson, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { Db, Executor } from "../platform/db.js";
import { createAppOverrideStore } from "./app-override-store.js";
import { applyAppOverrides, overridesFor } from "./app-overrides.js";
import type { StatusEvent } from "./device-status.js";
import { rendersHeldBack } from "./reconnect.js";
import { renderMark, statusPatch, type RenderResult } from "./render-mark.js";
import { createRenderStore } from "./render-store.js";
import { renderDevice, RenderError } from "./renderer.js";

/** A locked device and the spec and annotations the rollout is about to write into it. */
export interface InlineCandidate {
  name: string;
  owner: string;
  spec: DeviceSpecJson;
  status: DeviceStatusJson | null;
  annotations: Record<string, string>;
}

/** What the rollout's write adds for a device rendered inline. */
export interface InlineRendered {
  /** Top-level status fields the render replaced; undefined when none. */
  statusPatch?: Partial<DeviceStatusJson>;
  annotations: Record<string, string>;
  events: StatusEvent[];
}

/** Whether a spec renders without resolvers (every config provider inline). */
const inlineOnly = (spec: DeviceSpecJson) => (spec.config ?? []).every((p) => Array.isArray(p.inline));

export function createInlineRender(db: Db) {
  const renders = createRenderStore(db);
  const overrides = createAppOverrideStore(db);
  /**
   * Renders those of `items` that need no resolver, in `tx` (their rows locked by it); returns what each rendered one
   * adds to its row, and the names left to the render task.
   */
  return async function renderInline(
    tx: Executor,
    orgId: string,
    fleets: string[],
    items: InlineCandidate[],
  ): Promise<{ rendered: Map<string, InlineRendered>; queued: string[] }> {
    const eligible = items.filter((i) => !rendersHeldBack(i.annotations) && inlineOnly(i.spec));
    const isEligible = new Set(eligible);
    const queued = items.filter((i) => !isEligible.has(i)).map((i) => i.name);
    const rendered = new Map<string, InlineRendered>();
    if (!eligible.length) return { rendered, queued };
    const stored = await overrides.forRender(
      orgId,
      eligible.map((i) => i.name),
      fleets,
      tx,
    );
    const results = new Map<string, RenderResult>();
    for (const i of eligible) {
      // As stored and read back by the render task (JSON), so both hash the same content the same.
      const spec = JSON.parse(JSON.stringify(i.spec)) as DeviceSpecJson;
      try {
        results.set(
          i.name,
          await renderDevice({ orgId, name: i.name, spec: applyAppOverrides(spec, overridesFor(stored, i.name, i.owner)) }),
        );
      } catch (e) {
        if (!(e instanceof RenderError)) throw e;
        results.set(i.name, e);
      }
    }
    const versions = await renders.putMany(
      tx,
      orgId,
      [...results].flatMap(([name, res]) => (res instanceof RenderError ? [] : [{ name, ...res }])),
    );
    for (const i of eligible) {
      const mark = renderMark(i, results.get(i.name)!, versions.get(i.name));
      rendered.set(i.name, { statusPatch: statusPatch(i.status, mark.status), annotations: mark.annotations, events: mark.events });
    }
    return { rendered, queued };
  };
}
