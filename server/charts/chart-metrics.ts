// The metrics the web UI's charts read, and the PromQL built from them. This is the one place that names them: the
// device series are the agent's OpenTelemetry host metrics as the telemetry gateway exports them to Prometheus (dots
// → underscores, unit "1" on a gauge → the _ratio suffix, attributes → labels, plus the device_id/org_id labels the
// gateway stamps from the client certificate); the fleet series are the service's own flightctl_devices_summary.
// Callers never send PromQL: they name a resource, and its organization and name only ever become escaped label
// values of an exact (=) matcher.

/** OTel system.cpu.utilization (gauge, unit 1; per CPU and cpu.mode, or one overall series without cpu.mode). */
export const CPU_UTILIZATION = "system_cpu_utilization_ratio";
/** OTel system.memory.utilization (gauge, unit 1; per system.memory.state, or one overall series without it). */
export const MEMORY_UTILIZATION = "system_memory_utilization_ratio";
/** OTel system.filesystem.utilization (gauge, unit 1; one series per filesystem: device, mountpoint, type). */
export const FILESYSTEM_UTILIZATION = "system_filesystem_utilization_ratio";
/** The label the cpu.mode attribute becomes, and its idle value. */
export const CPU_MODE_LABEL = "cpu_mode";
/** The label the system.memory.state attribute becomes, and the state counted as used. */
export const MEMORY_STATE_LABEL = "system_memory_state";
/** The gateway's identity labels (server/telemetry/stamp.ts). */
export const DEVICE_LABEL = "device_id";
export const DEVICE_ORG_LABEL = "org_id";

/** The service's device count gauge (server/metrics/fleet-gauges.ts) and its labels. */
export const DEVICES_SUMMARY = "flightctl_devices_summary";
export const SUMMARY_ORG_LABEL = "organization_id";
export const SUMMARY_FLEET_LABEL = "fleet";
export const SUMMARY_STATUS_LABEL = "status";
/** The fleet label's value is the devices' owner, "Fleet/<name>". */
export const fleetOwner = (fleet: string) => `Fleet/${fleet}`;

/** A PromQL double-quoted string holding exactly `value` (backslash, quote and line breaks escaped). */
export function promString(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r")}"`;
}

/** A label matcher list of exact matches: {a="x",b="y"}. Names are ours (constants), values are escaped. */
function matchers(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${promString(v)}`)
    .join(",");
}

/** The device charts: each a name, its unit and its query. */
export function deviceQueries(orgId: string, device: string): { name: string; unit: string; query: string }[] {
  const sel = matchers({ [DEVICE_ORG_LABEL]: orgId, [DEVICE_LABEL]: device });
  return [
    {
      // Busy = 1 − idle averaged over CPUs; a sender that reports one overall figure (no mode) is taken as is.
      name: "cpu",
      unit: "ratio",
      query: `(1 - avg(${CPU_UTILIZATION}{${sel},${CPU_MODE_LABEL}="idle"}))` + ` or avg(${CPU_UTILIZATION}{${sel},${CPU_MODE_LABEL}=""})`,
    },
    {
      name: "memory",
      unit: "ratio",
      query:
        `sum(${MEMORY_UTILIZATION}{${sel},${MEMORY_STATE_LABEL}="used"})` +
        ` or avg(${MEMORY_UTILIZATION}{${sel},${MEMORY_STATE_LABEL}=""})`,
    },
    // The fullest filesystem: the one that runs out first.
    { name: "disk", unit: "ratio", query: `max(${FILESYSTEM_UTILIZATION}{${sel}})` },
  ];
}

/**
 * The fleet chart: devices by summary status. Every API replica serves the same snapshot of the gauge (with its own
 * instance label), so the replicas are folded with max, not added up.
 */
export function fleetQuery(orgId: string, fleet: string): string {
  const sel = matchers({ [SUMMARY_ORG_LABEL]: orgId, [SUMMARY_FLEET_LABEL]: fleetOwner(fleet) });
  return `max by (${SUMMARY_STATUS_LABEL}) (${DEVICES_SUMMARY}{${sel}})`;
}
