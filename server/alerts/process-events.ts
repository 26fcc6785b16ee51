// One batch of events turned into alert changes, inside the caller's transaction: the resources' active alerts are
// read, the rules applied to the events in seq order, and every alert that changed is written back once.
import { createDeviceStore } from "../devices/device-store.js";
import type { Executor } from "../platform/db.js";
import type { AlertEvent, AlertRow, AlertStore } from "./alert-store.js";
import { alertAnnotations, alertLabels, fleetOfOwner } from "./labels.js";
import { applyRules } from "./rules.js";

export interface BatchOutcome {
  created: number;
  resolved: number;
}

const keyOf = (orgId: string, kind: string, resource: string) => JSON.stringify([orgId, kind, resource]);

export async function processEvents(store: AlertStore, tx: Executor, batch: readonly AlertEvent[]): Promise<BatchOutcome> {
  const deviceStore = createDeviceStore(tx);
  const resources = new Map(batch.map((e) => [keyOf(e.orgId, e.kind, e.name), { orgId: e.orgId, kind: e.kind, resource: e.name }]));
  // Per resource: alertname -> its alert (active, or resolved in this batch).
  const held = new Map<string, Map<string, AlertRow>>();
  for (const k of resources.keys()) held.set(k, new Map());
  for (const row of await store.active(tx, [...resources.values()]))
    held.get(keyOf(row.orgId, row.kind, row.resource))!.set(row.alertname, row);
  // Labels come from the device as it is now; only needed for alerts that start.
  const deviceNames = batch.filter((e) => e.kind === "Device").map((e) => ({ orgId: e.orgId, name: e.name }));
  const subjects = new Map((await deviceStore.labelsAndOwners(deviceNames)).map((d) => [keyOf(d.orgId, "Device", d.name), d]));

  const changed = new Map<string, AlertRow>();
  const out: BatchOutcome = { created: 0, resolved: 0 };
  for (const e of batch) {
    const key = keyOf(e.orgId, e.kind, e.name);
    const alerts = held.get(key)!;
    const active = new Set([...alerts.values()].filter((a) => a.endsAt === null).map((a) => a.alertname));
    const { fire, resolve } = applyRules(e.reason, active);
    for (const name of resolve) {
      const a = { ...alerts.get(name)!, endsAt: e.at, eventSeq: e.seq };
      alerts.set(name, a);
      changed.set(`${key}/${name}`, a);
      out.resolved++;
    }
    // An alert already active stays as it is (its start, labels and summary): it is one continuous alert.
    if (fire && !active.has(fire)) {
      const device = subjects.get(key);
      const a: AlertRow = {
        orgId: e.orgId,
        kind: e.kind,
        resource: e.name,
        alertname: fire,
        labels: alertLabels({
          alertname: fire,
          orgId: e.orgId,
          kind: e.kind,
          resource: e.name,
          fleet: fleetOfOwner(device?.owner),
          deviceLabels: device?.labels ?? undefined,
        }),
        annotations: alertAnnotations(e.message, e.id),
        startsAt: e.at,
        endsAt: null,
        eventSeq: e.seq,
      };
      alerts.set(fire, a);
      changed.set(`${key}/${fire}`, a);
      out.created++;
    }
  }
  await store.put(tx, [...changed.values()]);
  return out;
}
