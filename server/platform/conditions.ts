// Kubernetes-style conditions in flightctl JSON form: set one by type, keeping lastTransitionTime when the status
// does not change.
import type { ConditionJson } from "../../gen/flightctl/v1beta1/meta_pb.js";

export interface ConditionInput {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

/** The conditions with `c` set (replacing the one of the same type). */
export function setCondition(conditions: ConditionJson[] | undefined, c: ConditionInput, now = new Date()): ConditionJson[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const previous = i >= 0 ? list[i] : undefined;
  const lastTransitionTime = previous && previous.status === c.status ? previous.lastTransitionTime : now.toISOString();
  const next: ConditionJson = {
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
export const isTrue = (conditions: ConditionJson[] | undefined, type: string) =>
  !!conditions?.some((c) => c.type === type && c.status === "True");
