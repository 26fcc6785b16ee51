// Declarative fleet-level rules beyond flightctl's 16: "more than P % of a fleet's devices have summary status S"
// raises an alert of kind Fleet named after the rule, for that fleet; it resolves when the share drops to P % or below.
// Written as `<alertname>:<status>:<percent>`, comma separated (FLIGHTCTL_ALERT_FLEET_RULES).
import type { DeviceStatusCount } from "../devices/device-store.js";

export interface FleetRule {
  alertname: string;
  /** A device summary status (Unknown = disconnected, Error, Degraded, ...). */
  status: string;
  /** Fires above this share of the fleet's devices (0..100). */
  percent: number;
}

/** A fleet rule that holds for a fleet now. */
export interface FleetAlert {
  orgId: string;
  fleet: string;
  alertname: string;
  summary: string;
}

/** Parses `<alertname>:<status>:<percent>[,...]`; throws an Error naming the bad item. */
export function parseFleetRules(text: string): FleetRule[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((item) => {
      const m = /^([a-zA-Z_][a-zA-Z0-9_]*):([A-Za-z]+):(\d+(?:\.\d+)?)$/.exec(item);
      if (!m || Number(m[3]) > 100) throw new Error(`"${item}" is not <alertname>:<status>:<percent 0-100>`);
      return { alertname: m[1], status: m[2], percent: Number(m[3]) };
    });
}

/** The fleet alerts that hold, from the devices' summary status counts per owner. */
export function evaluateFleetRules(rules: readonly FleetRule[], counts: readonly DeviceStatusCount[]): FleetAlert[] {
  const fleets = new Map<string, { orgId: string; fleet: string; total: number; by: Map<string, number> }>();
  for (const c of counts) {
    if (c.kind !== "summary" || !c.owner.startsWith("Fleet/")) continue;
    const key = `${c.orgId}/${c.owner}`;
    const f = fleets.get(key) ?? { orgId: c.orgId, fleet: c.owner.slice("Fleet/".length), total: 0, by: new Map() };
    fleets.set(key, f);
    f.total += c.count;
    f.by.set(c.status, (f.by.get(c.status) ?? 0) + c.count);
  }
  const out: FleetAlert[] = [];
  for (const f of fleets.values())
    for (const r of rules) {
      const n = f.by.get(r.status) ?? 0;
      const share = (100 * n) / f.total;
      if (f.total > 0 && share > r.percent)
        out.push({
          orgId: f.orgId,
          fleet: f.fleet,
          alertname: r.alertname,
          summary: `${n} of ${f.total} devices of fleet ${f.fleet} (${share.toFixed(0)} %) are ${r.status}; the rule allows ${r.percent} %.`,
        });
    }
  return out;
}
