// The service's side of device status (flightctl's rules): summary, updated, applicationsSummary and lifecycle are
// derived from what the agent reports plus what only the service knows (rendered version, connectivity,
// annotations), and each change of them is an event with flightctl's reason.
import type { JsonObject } from "@bufbuild/protobuf";
import type { DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";

export const ANNOTATION_AWAITING_RECONNECT = "device-controller/awaitingReconnect";
export const ANNOTATION_CONFLICT_PAUSED = "device-controller/conflictPaused";
/** Conditions the service owns; an agent's report never replaces them. */
export const SERVICE_CONDITIONS = new Set(["SpecValid", "MultipleOwners"]);
/** A device not heard from for this long is disconnected (flightctl's DeviceDisconnectedTimeout). */
export const DISCONNECTED_AFTER_MS = 5 * 60_000;

export interface StatusContext {
  annotations: Record<string, string>;
  /** The service's rendered version for the device, if it was ever rendered. */
  renderedVersion?: number;
  disconnected: boolean;
}

type Obj = JsonObject;
const obj = (v: unknown): Obj => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
const statusOf = (v: unknown) => obj(v).status as string | undefined;

function condition(status: Obj, type: string): Obj | undefined {
  return ((status.conditions ?? []) as Obj[]).find((c) => c.type === type);
}

function summaryOf(s: Obj, ctx: StatusContext): Obj {
  // flightctl's summary values have no decommissioned state (its console shows the lifecycle in its place). A device
  // that completed decommissioning wiped its identity and will never report again: the service knows it is gone,
  // which is flightctl's Unknown, said at once rather than after the disconnect timeout.
  if (statusOf(s.lifecycle) === "Decommissioned")
    return { status: "Unknown", info: "Device was decommissioned: its agent wiped its identity and no longer reports" };
  if (ctx.annotations[ANNOTATION_AWAITING_RECONNECT] === "true")
    return { status: "AwaitingReconnect", info: "Device has not reconnected since the service was restored" };
  if (ctx.annotations[ANNOTATION_CONFLICT_PAUSED] === "true")
    return { status: "ConflictPaused", info: "Device is ahead of the service; resume it once resolved" };
  if (ctx.disconnected) return { status: "Unknown", info: "Device is disconnected (last seen more than 5m0s ago)" };
  const updating = condition(s, "Updating");
  if (updating?.status === "True" && updating.reason === "Rebooting") return { status: "Rebooting", info: "Device is rebooting" };
  const resources = obj(s.resources);
  const critical = ["cpu", "memory", "disk"].filter((r) => resources[r] === "Critical");
  if (critical.length) return { status: "Error", info: `Critical resource alert: ${critical.map((r) => r.toUpperCase()).join(", ")}` };
  const warning = ["cpu", "memory", "disk"].filter((r) => resources[r] === "Warning");
  if (warning.length) return { status: "Degraded", info: `Resource warning: ${warning.map((r) => r.toUpperCase()).join(", ")}` };
  const reported = obj(s.summary);
  if (["Online", "Degraded", "Error"].includes(String(reported.status))) return reported;
  return { status: "Online", info: "Device is online" };
}

function updatedOf(s: Obj, ctx: StatusContext, previous: Obj): Obj {
  if (ctx.disconnected) return { status: "Unknown", info: "Device is disconnected" };
  const updating = condition(s, "Updating");
  if (updating?.status === "True") return { status: "Updating", info: String(updating.message ?? "Device is updating") };
  if (ctx.renderedVersion === undefined) return statusOf(previous.updated) ? obj(previous.updated) : { status: "Unknown" };
  const running = Number(obj(s.config).renderedVersion ?? 0);
  return running === ctx.renderedVersion
    ? { status: "UpToDate", info: "Device is running the latest rendered version" }
    : { status: "OutOfDate", info: `Device is running version ${running}; version ${ctx.renderedVersion} is rendered` };
}

function applicationsSummaryOf(s: Obj, ctx: StatusContext): Obj {
  if (ctx.disconnected) return { status: "Unknown", info: "Device is disconnected" };
  const apps = (s.applications ?? []) as Obj[];
  if (apps.length === 0) return { status: "NoApplications" };
  // As flightctl: while the device reboots its apps are down, whatever its last report said.
  const updating = condition(s, "Updating");
  if (updating?.status === "True" && updating.reason === "Rebooting") return { status: "Degraded", info: "Device is rebooting" };
  const reported = obj(s.applicationsSummary);
  if (reported.status && reported.status !== "Unknown") return reported;
  if (apps.some((a) => a.status === "Error")) return { status: "Error", info: "At least one application failed" };
  if (apps.some((a) => !["Running", "Completed"].includes(String(a.status))))
    return { status: "Degraded", info: "Not every application is running" };
  return { status: "Healthy" };
}

function lifecycleOf(s: Obj, previous: Obj): Obj {
  const d = condition(s, "DeviceDecommissioning");
  if (d?.reason === "Started") return { status: "Decommissioning" };
  if (d?.reason === "Completed" || d?.reason === "Error") return { status: "Decommissioned" };
  return statusOf(previous.lifecycle) && statusOf(previous.lifecycle) !== "Unknown" ? obj(previous.lifecycle) : { status: "Enrolled" };
}

/** The status to store: the agent's report with the service's fields computed and its own conditions kept. */
export function serviceStatus(reported: DeviceStatusJson, previous: DeviceStatusJson | null, ctx: StatusContext): DeviceStatusJson {
  // Read defensively (obj(), String()): a status may come from a JSON patch, not only from a well-formed message.
  const prev: Obj = previous ?? {};
  const kept = ((prev.conditions ?? []) as Obj[]).filter((c) => SERVICE_CONDITIONS.has(String(c.type)));
  const agentConditions = ((reported.conditions ?? []) as Obj[]).filter((c) => !SERVICE_CONDITIONS.has(String(c.type)));
  const s: Obj = { ...reported, conditions: [...agentConditions, ...kept] };
  s.lifecycle = lifecycleOf(s, prev);
  s.summary = summaryOf(s, ctx);
  s.updated = updatedOf(s, ctx, prev);
  s.applicationsSummary = applicationsSummaryOf(s, ctx);
  delete s.lastSeen;
  return s;
}

/** The same status as seen by the disconnect sweep: connectivity-derived fields turn Unknown. */
export function disconnectedStatus(previous: DeviceStatusJson, ctx: Omit<StatusContext, "disconnected">): DeviceStatusJson {
  return serviceStatus(previous, previous, { ...ctx, disconnected: true });
}

export interface StatusEvent {
  reason: string;
  type: "Normal" | "Warning";
  message: string;
}

const RESOURCE_REASON: Record<string, string> = { cpu: "CPU", memory: "Memory", disk: "Disk" };

/** flightctl's events for what changed between two statuses. */
export function statusTransitions(before: DeviceStatusJson | null, after: DeviceStatusJson): StatusEvent[] {
  const b: Obj = before ?? {};
  const out: StatusEvent[] = [];
  const was = statusOf(b.summary);
  const now = statusOf(after.summary);
  if (was !== now) {
    if (now === "Unknown" && was && was !== "Unknown")
      out.push({ reason: "DeviceDisconnected", type: "Warning", message: String(obj(after.summary).info ?? "Device is disconnected") });
    else if (was === "Unknown" && now !== "Unknown")
      out.push({ reason: "DeviceConnected", type: "Normal", message: "Device is connected" });
    if (now === "Rebooting") out.push({ reason: "DeviceIsRebooting", type: "Normal", message: "Device is rebooting" });
  }
  const upWas = statusOf(b.updated);
  const upNow = statusOf(after.updated);
  if (upWas !== upNow && upNow !== "Unknown") {
    const reason = { UpToDate: "DeviceContentUpToDate", OutOfDate: "DeviceContentOutOfDate", Updating: "DeviceContentUpdating" }[
      upNow ?? ""
    ];
    if (reason) out.push({ reason, type: "Normal", message: String(obj(after.updated).info ?? upNow) });
  }
  const failedNow = condition(after, "Updating");
  const failedBefore = condition(b, "Updating");
  if (failedNow?.reason === "Error" && (failedBefore?.reason !== "Error" || failedBefore?.message !== failedNow.message)) {
    out.push({ reason: "DeviceUpdateFailed", type: "Warning", message: String(failedNow.message ?? "Device failed to apply its spec") });
  }
  const apWas = statusOf(b.applicationsSummary);
  const apNow = statusOf(after.applicationsSummary);
  // flightctl's reasons: NoApplications is healthy too (a failing app removed clears its error). A device coming
  // up healthy (from no status, Unknown or no apps) is its normal start, not an event.
  const apEvent = apNow === "NoApplications" ? "Healthy" : apNow;
  const wasBad = apWas === "Degraded" || apWas === "Error";
  if (apWas !== apNow && apEvent && ["Healthy", "Degraded", "Error"].includes(apEvent) && !(apEvent === "Healthy" && !wasBad)) {
    out.push({
      reason: `DeviceApplication${apEvent}`,
      type: apEvent === "Healthy" ? "Normal" : "Warning",
      message: String(
        obj(after.applicationsSummary).info ?? (apNow === "NoApplications" ? "No applications" : `Applications are ${apNow}`),
      ),
    });
  }
  for (const r of ["cpu", "memory", "disk"]) {
    const rb = obj(b.resources)[r];
    const ra = obj(after.resources)[r];
    if (rb === ra || ra === undefined || ra === "Unknown" || (ra === "Healthy" && (!rb || rb === "Unknown"))) continue;
    const level = ra === "Healthy" ? "Normal" : String(ra);
    out.push({
      reason: `Device${RESOURCE_REASON[r]}${level}`,
      type: level === "Normal" ? "Normal" : "Warning",
      // flightctl's fixed wording (an alert's summary is this message).
      message:
        level === "Normal"
          ? `${RESOURCE_REASON[r]} utilization has returned to normal.`
          : `${RESOURCE_REASON[r]} utilization has reached a ${level.toLowerCase()} level.`,
    });
  }
  if (statusOf(after.lifecycle) === "Decommissioned" && statusOf(b.lifecycle) !== "Decommissioned") {
    out.push({ reason: "DeviceDecommissioned", type: "Normal", message: "Device was decommissioned" });
  }
  return out;
}
