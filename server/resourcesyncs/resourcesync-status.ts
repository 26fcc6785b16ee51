// ResourceSync status vocabulary (flightctl's condition types and reasons, so its UI and CLI read ours) and the events a
// status change yields: a new commit, and each condition turning true or false or changing its message.
import type { EventDetailsJson } from "../../gen/flightctl/v1beta1/event_pb.js";
import type { ConditionJson } from "../../gen/flightctl/v1beta1/meta_pb.js";
import type { ResourceSyncStatusJson } from "../../gen/flightctl/v1beta1/resourcesync_pb.js";
import type { NewEvent } from "../platform/event-store.js";

export const ACCESSIBLE = "Accessible";
export const RESOURCE_PARSED = "ResourceParsed";
export const SYNCED = "Synced";

export const REASONS = {
  accessible: "accessible",
  repositoryNotFound: "repository resource not found",
  cloneFailed: "failed to clone repository",
  pathNotFound: "path not found in repository",
  success: "success",
  fail: "fail",
  /** Synced=False while a new commit (or spec generation) is being applied; not a failure. */
  newHash: "NewHashDetected",
} as const;

export const SOURCE_COMPONENT = "flightctl-worker";
export const ACTOR = "service:resourcesync";

const conditionOf = (status: ResourceSyncStatusJson | null, type: string) => status?.conditions?.find((c) => c.type === type);

const differs = (a: ConditionJson | undefined, b: ConditionJson | undefined) =>
  !!b && (!a || a.status !== b.status || a.reason !== b.reason || a.message !== b.message);

/** Events for a status going from `before` to `after`; `completed` details go with a successful sync's event. */
export function statusEvents(
  name: string,
  before: ResourceSyncStatusJson | null,
  after: ResourceSyncStatusJson,
  completed?: EventDetailsJson,
): NewEvent[] {
  const events: NewEvent[] = [];
  const ev = (reason: string, type: NewEvent["type"], message: string, details?: EventDetailsJson): NewEvent => ({
    reason,
    type,
    message,
    actor: ACTOR,
    involvedObject: { kind: "ResourceSync", name },
    sourceComponent: SOURCE_COMPONENT,
    ...(details ? { details } : {}),
  });
  const commit = after.observedCommit;
  if (commit && commit !== before?.observedCommit) events.push(ev("ResourceSyncCommitDetected", "Normal", `New commit ${commit} found.`));
  const transitions: [string, string, string, string, string][] = [
    [
      ACCESSIBLE,
      "ResourceSyncAccessible",
      "The repository and path can be read.",
      "ResourceSyncInaccessible",
      "Cannot read the repository",
    ],
    [
      RESOURCE_PARSED,
      "ResourceSyncParsed",
      "The resources parsed and validated.",
      "ResourceSyncParsingFailed",
      "The resources are not valid",
    ],
    [SYNCED, "ResourceSyncSynced", "The resources were applied.", "ResourceSyncSyncFailed", "The resources were not applied"],
  ];
  for (const [type, okReason, okMessage, failReason, failPrefix] of transitions) {
    const was = conditionOf(before, type);
    const now = conditionOf(after, type);
    if (!differs(was, now)) continue;
    if (now!.status === "True") {
      const message = type === SYNCED ? `${okMessage.slice(0, -1)}: ${now!.message}.` : okMessage;
      events.push(ev(okReason, "Normal", message, type === SYNCED ? completed : undefined));
    } else if (now!.reason !== REASONS.newHash) {
      events.push(ev(failReason, "Warning", `${failPrefix}: ${now!.message}`));
    }
  }
  return events;
}
