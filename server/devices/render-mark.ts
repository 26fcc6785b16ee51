// What a render changes on its device's row: the service-owned SpecValid condition, `updated` (OutOfDate when a new
// version is rendered for a connected device that runs another) and the fleet template version the render came from,
// with the events of those changes. One rule for both places that render: the render task (device-tasks.ts) and the
// rollout, which renders inline-only fleet templates in its own spec write (render-inline.ts).
import type { ConditionJson } from "../../gen/flightctl/v1beta1/meta_pb.js";
import type { DeviceSpecJson, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { setCondition } from "../platform/conditions.js";
import { ANNOTATION_RENDERED_TEMPLATE_VERSION, ANNOTATION_TEMPLATE_VERSION } from "./device-annotations.js";
import { statusTransitions, type StatusEvent } from "./device-status.js";
import { RenderError } from "./renderer.js";

/** A render's result: the rendered spec and its hash, or why it could not be rendered. */
export type RenderResult = { spec: DeviceSpecJson; hash: string } | RenderError;

/** The row after a render: status and annotations (the very objects it found when unchanged) and the events. */
export interface RenderMarkOutcome {
  status: DeviceStatusJson | null;
  annotations: Record<string, string>;
  events: StatusEvent[];
}

/**
 * The device row a render leaves, from the row it found (`status`, `annotations`), the render's result and the
 * version `putMany` gave it (undefined when the content did not change).
 */
export function renderMark(
  row: { status: DeviceStatusJson | null; annotations: Record<string, string> },
  res: RenderResult,
  version: number | undefined,
): RenderMarkOutcome {
  const status: DeviceStatusJson = row.status ?? {};
  const conditions: ConditionJson[] = status.conditions ?? [];
  const wasValid = conditions.find((c) => c.type === "SpecValid");
  const events: StatusEvent[] = [];
  let next = status;
  if (res instanceof RenderError) {
    if (wasValid?.status !== "False" || wasValid.message !== res.message) {
      next = {
        ...status,
        conditions: setCondition(conditions, { type: "SpecValid", status: "False", reason: "Invalid", message: res.message }),
      };
      events.push({ reason: "DeviceSpecInvalid", type: "Warning", message: res.message });
    }
  } else {
    if (wasValid?.status === "False") {
      next = { ...next, conditions: setCondition(conditions, { type: "SpecValid", status: "True", reason: "Valid", message: "" }) };
      events.push({ reason: "DeviceSpecValid", type: "Normal", message: "Device specification is valid" });
    }
    const running = Number(next.config?.renderedVersion ?? 0);
    const connected = next.summary?.status !== "Unknown";
    if (version !== undefined && connected && running !== version) {
      const updated = { status: "OutOfDate", info: `Device is running version ${running}; version ${version} is rendered` };
      // Already saying so: no write.
      if (next.updated?.status !== updated.status || next.updated?.info !== updated.info) {
        events.push(...statusTransitions(next, { ...next, updated }));
        next = { ...next, updated };
      }
    }
  }
  // The template version a render came from travels with it (rollouts count a device done only on this one).
  let annotations = row.annotations;
  const tv = annotations[ANNOTATION_TEMPLATE_VERSION];
  if (!(res instanceof RenderError) && tv !== undefined && annotations[ANNOTATION_RENDERED_TEMPLATE_VERSION] !== tv) {
    annotations = { ...annotations, [ANNOTATION_RENDERED_TEMPLATE_VERSION]: tv };
  }
  return { status: next === status ? row.status : next, annotations, events };
}

/** The top-level status fields a mark replaced (for a `status || patch` write); undefined when none. */
export function statusPatch(before: DeviceStatusJson | null, after: DeviceStatusJson | null): Partial<DeviceStatusJson> | undefined {
  if (after === before || !after) return undefined;
  const b = (before ?? {}) as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) if (b[k] !== v) patch[k] = v;
  return Object.keys(patch).length ? (patch as Partial<DeviceStatusJson>) : undefined;
}
