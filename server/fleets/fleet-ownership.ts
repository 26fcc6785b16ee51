// The one rule that decides which fleet owns a device, from its labels and the fleets' selectors (flightctl's fleet
// selection): one matching fleet owns it; none releases it (it becomes standalone and keeps its spec); two or more
// leave the owner as it was and set MultipleOwners=True, listing them, until one of them stops matching.
// Pure: the fleet_selection task (fleet-tasks.ts) applies it to locked rows; every path that creates or relabels a
// device, or creates, changes or deletes a fleet, queues that task (jobs/queues.ts enqueueSelection).
import type { DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { NewEvent } from "../platform/event-store.js";
import { setCondition } from "../platform/conditions.js";
import type { LabelRequirement } from "../platform/selectors/label-selector.js";
import { matchesRequirements } from "./rollout-math.js";

/** The owner value of a fleet. */
export const fleetOwner = (fleet: string) => `Fleet/${fleet}`;
const MULTIPLE_PREFIX = "Device matches multiple fleets: ";

/** What the rule reads of a device. */
export interface OwnedDevice {
  name: string;
  labels: Record<string, string>;
  owner: string | null;
  status: DeviceStatusJson | null;
}

/** A fleet as the rule sees it: its name and selector (undefined: the empty selector, which matches nothing). */
export interface SelectingFleet {
  name: string;
  selector: LabelRequirement[] | undefined;
}

/** An event of the decision, before the caller adds who wrote it. */
export type OwnershipEvent = Omit<NewEvent, "actor" | "involvedObject" | "sourceComponent">;

export interface OwnershipDecision {
  /** The owner the device gets (null: none). */
  owner: string | null;
  /** The fleets whose selectors match the device's labels, in the order given. */
  matching: string[];
  /** The new status (MultipleOwners set or cleared) when it changed; undefined when it did not. */
  status?: DeviceStatusJson;
  /** flightctl's events for what changed: owner (ResourceUpdated), DeviceMultipleOwnersDetected/Resolved. */
  events: OwnershipEvent[];
  /** Whether the owner or the status changed (the row must be written). */
  changed: boolean;
}

/**
 * Decides the owner of `device` among `fleets`. A device owned by something other than a fleet is not the fleet
 * controller's: returned unchanged.
 */
export function decideOwnership(device: OwnedDevice, fleets: readonly SelectingFleet[]): OwnershipDecision {
  if (device.owner && !device.owner.startsWith("Fleet/")) return { owner: device.owner, matching: [], events: [], changed: false };
  const matching = fleets.filter((f) => f.selector !== undefined && matchesRequirements(device.labels, f.selector)).map((f) => f.name);
  const status = device.status ?? {};
  const conditions = status.conditions ?? [];
  const multi = conditions.find((c) => c.type === "MultipleOwners");
  const wasMulti = multi?.status === "True";
  const previous = wasMulti
    ? String(multi?.message ?? "")
        .slice(MULTIPLE_PREFIX.length)
        .split(", ")
        .filter(Boolean)
    : [];
  const owner = matching.length === 1 ? fleetOwner(matching[0]) : matching.length === 0 ? null : device.owner;
  const events: OwnershipEvent[] = [];
  let nextConditions = conditions;
  if (matching.length >= 2) {
    const message = `${MULTIPLE_PREFIX}${matching.join(", ")}`;
    if (!wasMulti || multi?.message !== message) {
      nextConditions = setCondition(conditions, { type: "MultipleOwners", status: "True", reason: "MultipleOwners", message });
      events.push({
        reason: "DeviceMultipleOwnersDetected",
        type: "Warning",
        message,
        details: { detailType: "DeviceMultipleOwnersDetected", matchingFleets: matching },
      });
    }
  } else if (wasMulti || (matching.length === 1 && !multi)) {
    nextConditions = setCondition(conditions, { type: "MultipleOwners", status: "False", reason: "SingleOwner", message: "" });
    if (wasMulti) {
      const deleted = previous.some((p) => !fleets.some((f) => f.name === p));
      const resolutionType = matching.length === 1 ? "SingleMatch" : deleted ? "FleetDeleted" : "NoMatch";
      events.push({
        reason: "DeviceMultipleOwnersResolved",
        type: "Normal",
        message: `Device multiple owners conflict was resolved: ${resolutionType}`,
        details: {
          detailType: "DeviceMultipleOwnersResolved",
          resolutionType,
          assignedOwner: owner ?? "",
          previousMatchingFleets: previous,
        },
      });
    }
  }
  if (owner !== device.owner) {
    events.push({
      reason: "ResourceUpdated",
      type: "Normal",
      message: "Device was updated successfully.",
      details: { detailType: "ResourceUpdated", updatedFields: ["owner"], previousOwner: device.owner ?? "", newOwner: owner ?? "" },
    });
  }
  const statusChanged = nextConditions !== conditions;
  return {
    owner,
    matching,
    ...(statusChanged ? { status: { ...status, conditions: nextConditions } } : {}),
    events,
    changed: owner !== device.owner || statusChanged,
  };
}
