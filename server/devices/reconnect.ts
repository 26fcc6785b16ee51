// The first report of a device after a restore (flightctl's awaitingReconnect handshake): the service's database may
// be older than what the device runs. A device reporting a rendered version above the one the restored service has
// for it is ConflictPaused: it keeps running what it has and gets no render until a user resumes it
// (ResumeDevices); any other device simply goes on (Online, and rendered again).
import type { DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { ANNOTATION_AWAITING_RECONNECT, ANNOTATION_CONFLICT_PAUSED, type StatusEvent } from "./device-status.js";

/** Renders wait while either annotation is set (device-tasks.ts), so a render cannot overtake the handshake. */
export const rendersHeldBack = (annotations: Record<string, string>) =>
  annotations[ANNOTATION_AWAITING_RECONNECT] === "true" || annotations[ANNOTATION_CONFLICT_PAUSED] === "true";

/** The version a device says it runs (its status.config.renderedVersion; 0 when absent or not a number). */
export function reportedVersion(status: DeviceStatusJson | null | undefined): number {
  const v = Number(status?.config?.renderedVersion ?? 0);
  return Number.isSafeInteger(v) && v > 0 ? v : 0;
}

/**
 * The annotations after this report: the awaitingReconnect mark is dropped, and conflictPaused is set when the device
 * is ahead of `serviceVersion` (with flightctl's DeviceConflictPaused event). Without the mark, nothing changes.
 */
export function afterReconnect(
  annotations: Record<string, string>,
  reported: DeviceStatusJson,
  serviceVersion: number | undefined,
): { annotations: Record<string, string>; paused?: StatusEvent } {
  if (annotations[ANNOTATION_AWAITING_RECONNECT] !== "true") return { annotations };
  const { [ANNOTATION_AWAITING_RECONNECT]: _, ...rest } = annotations;
  const device = reportedVersion(reported);
  const service = serviceVersion ?? 0;
  if (device <= service) return { annotations: rest };
  return {
    annotations: { ...rest, [ANNOTATION_CONFLICT_PAUSED]: "true" },
    paused: {
      reason: "DeviceConflictPaused",
      type: "Warning",
      message:
        `Device reconciliation is paused: the device reports rendered version ${device}, newer than the restored service's ${service}; ` +
        "it keeps running what it has until it is resumed.",
    },
  };
}
