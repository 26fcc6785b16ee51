// Kubernetes-style conditions in flightctl JSON form: set one by type, keeping lastTransitionTime when the status
// does not change.
import type { JsonObject } from "@bufbuild/protobuf";

export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/** The conditions with `c` set (replacing the one of the same type). */
export function setCondition(conditions: JsonObject[] | undefined, c: ConditionInput, now = new Date()): JsonObject[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const previous = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = previous && previous.status === c.status ? previous.lastTransitionTime : now.toISOString();
  const next: JsonObject = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: lastTransitionTime ?? now.toISOString(),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

/** Whether condition `type` is "True". */
export const isTrue = (conditions: JsonObject[] | undefined, type: string) =>
  !!conditions?.some((c) => c.type === type && c.status === "True");
