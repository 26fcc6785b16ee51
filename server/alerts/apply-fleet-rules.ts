// The fleet rules applied: in one transaction, the alerts that hold now are raised (if not active yet) and the active
// ones that no longer hold are resolved. Fleet alerts carry kind Fleet, the fleet's name as resource and fleet.
import { createDeviceStore } from "../devices/device-store.js";
import type { Db } from "../platform/db.js";
import type { AlertRow, AlertStore } from "./alert-store.js";
import { evaluateFleetRules, type FleetRule } from "./fleet-rules.js";
import { alertAnnotations, alertLabels } from "./labels.js";
import type { BatchOutcome } from "./process-events.js";

export async function applyFleetRules(db: Db, store: AlertStore, rules: readonly FleetRule[]): Promise<BatchOutcome> {
  return db.transaction(async (tx) => {
    const holding = evaluateFleetRules(rules, await createDeviceStore(tx).countStatusesForMetrics(true));
    const active = await store.activeNamed(
      tx,
      "Fleet",
      rules.map((r) => r.alertname),
    );
    const key = (orgId: string, fleet: string, alertname: string) => JSON.stringify([orgId, fleet, alertname]);
    const now = new Date().toISOString();
    // No event raises these; the cursor orders their changes like the event-driven ones.
    const seq = (await store.cursor(tx)) ?? 0;
    const activeKeys = new Set(active.map((a) => key(a.orgId, a.resource, a.alertname)));
    const holdingKeys = new Set(holding.map((h) => key(h.orgId, h.fleet, h.alertname)));
    const rows: AlertRow[] = [
      ...holding
        .filter((h) => !activeKeys.has(key(h.orgId, h.fleet, h.alertname)))
        .map((h) => ({
          orgId: h.orgId,
          kind: "Fleet",
          resource: h.fleet,
          alertname: h.alertname,
          labels: alertLabels({ alertname: h.alertname, orgId: h.orgId, kind: "Fleet", resource: h.fleet, fleet: h.fleet }),
          annotations: alertAnnotations(h.summary, h.alertname),
          startsAt: now,
          endsAt: null,
          eventSeq: seq,
        })),
      ...active.filter((a) => !holdingKeys.has(key(a.orgId, a.resource, a.alertname))).map((a) => ({ ...a, endsAt: now, eventSeq: seq })),
    ];
    await store.put(tx, rows);
    const created = rows.filter((r) => r.endsAt === null).length;
    return { created, resolved: rows.length - created };
  });
}
