// Which fleet owns each device: the fleet controller's selection reads and its ownership write, for thousands of
// devices per call. A chunk is locked `order by name for update` in the caller's transaction, then written by one
// statement with its events in the same transaction.
import { sql, type SQL } from "drizzle-orm";
import type { DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { devices } from "../../db/schema/resources.js";
import { textArray, type Executor } from "../platform/db.js";
import { insertEvents, type NewEvent } from "../platform/event-store.js";
import { labelRequirementsToSql, type LabelRequirement } from "../platform/selectors/label-selector.js";

/** What fleet selection reads of a device. */
export interface SelectionDevice {
  name: string;
  labels: Record<string, string>;
  owner: string | null;
  status: DeviceStatusJson | null;
}

/** Which devices a selection pass looks at: the named ones, and those a change of the named fleets may affect. */
export interface SelectionScope {
  devices: string[];
  /** The changed fleets' owner values ("Fleet/<name>") and selectors (undefined: matches nothing). */
  fleets: { owners: string[]; selectors: (LabelRequirement[] | undefined)[] };
}

/** A device's new owner (null: none) and the status that goes with it (its MultipleOwners condition). */
export interface OwnerUpdate {
  name: string;
  owner: string | null;
  status: DeviceStatusJson;
}

/** Device ownership statements; `db` is the database (or a transaction) reads run on. Part of the device store. */
export function createDeviceOwnershipStore(db: Executor) {
  return {
    /** Names of the devices `scope` selects, in name order. */
    async selectionCandidates(orgId: string, scope: SelectionScope): Promise<string[]> {
      const conds: SQL[] = [];
      if (scope.devices.length) conds.push(sql`name = any(${textArray(scope.devices)})`);
      if (scope.fleets.owners.length) {
        conds.push(sql`owner = any(${textArray(scope.fleets.owners)})`);
        for (const reqs of scope.fleets.selectors) if (reqs) conds.push(labelRequirementsToSql(reqs));
        // A device torn between fleets may be freed by any fleet's change.
        conds.push(sql`status->'conditions' @> '[{"type":"MultipleOwners","status":"True"}]'`);
      }
      if (!conds.length) return [];
      const r = await db.execute<{ name: string }>(
        sql`select name from ${devices} where org_id = ${orgId} and (${sql.join(conds, sql` or `)}) order by name`,
      );
      return r.rows.map((row) => row.name);
    },

    /** Locks the named devices in name order until `tx` ends and returns what selection needs of them. */
    async lockForSelection(tx: Executor, orgId: string, names: string[]): Promise<SelectionDevice[]> {
      const r = await tx.execute<{ name: string; labels: Record<string, string>; owner: string | null; status: DeviceStatusJson | null }>(
        sql`select name, labels, owner, status from ${devices} where org_id = ${orgId} and name = any(${textArray(names)})
        order by name for update`,
      );
      return r.rows;
    },

    /** Writes new owners and statuses of devices locked by `tx` (lockForSelection) in one statement, with `events`. */
    async setOwners(tx: Executor, orgId: string, updates: OwnerUpdate[], events: readonly NewEvent[]): Promise<void> {
      if (updates.length) {
        await tx.execute(sql`update ${devices} d set owner = u.owner, status = u.status, resource_version = flightctl_next_version()
            from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as u(name text, owner text, status jsonb)
           where d.org_id = ${orgId} and d.name = u.name`);
      }
      await insertEvents(tx, orgId, events);
    },
  };
}
