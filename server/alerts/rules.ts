// flightctl's alert rules: which event reasons raise an alert, which resolve one. Pure: given an event's reason and
// the alerts its resource has active, it says what to fire and what to resolve; the exporter applies that.

/** The exclusive groups: raising one member resolves the others, the group's "normal" reason resolves all of them. */
const GROUPS = {
  app: { raise: ["DeviceApplicationError", "DeviceApplicationDegraded"], normal: "DeviceApplicationHealthy" },
  cpu: { raise: ["DeviceCPUCritical", "DeviceCPUWarning"], normal: "DeviceCPUNormal" },
  memory: { raise: ["DeviceMemoryCritical", "DeviceMemoryWarning"], normal: "DeviceMemoryNormal" },
  disk: { raise: ["DeviceDiskCritical", "DeviceDiskWarning"], normal: "DeviceDiskNormal" },
} as const;

/** Reasons that end every alert of their resource. */
const RESOLVE_ALL = ["ResourceDeleted", "DeviceDecommissioned"];

/** The 16 event reasons the exporter reads (every other event is skipped). */
export const ALERT_REASONS: readonly string[] = [
  ...Object.values(GROUPS).flatMap((g) => [...g.raise, g.normal]),
  "DeviceDisconnected",
  "DeviceConnected",
  ...RESOLVE_ALL,
];

/** What one event does to its resource's alerts. */
export interface RuleOutcome {
  /** The alert to raise (or keep raised), named after the event's reason. */
  fire?: string;
  /** Active alerts to end. */
  resolve: string[];
}

/** Applies the rules to an event of `reason` on a resource whose active alerts are `active`. */
export function applyRules(reason: string, active: ReadonlySet<string>): RuleOutcome {
  const activeOf = (names: readonly string[]) => names.filter((n) => active.has(n));
  if (RESOLVE_ALL.includes(reason)) return { resolve: [...active] };
  if (reason === "DeviceDisconnected") return { fire: reason, resolve: [] };
  if (reason === "DeviceConnected") return { resolve: activeOf(["DeviceDisconnected"]) };
  for (const g of Object.values(GROUPS)) {
    if (reason === g.normal) return { resolve: activeOf(g.raise) };
    if ((g.raise as readonly string[]).includes(reason)) return { fire: reason, resolve: activeOf(g.raise.filter((r) => r !== reason)) };
  }
  return { resolve: [] };
}
