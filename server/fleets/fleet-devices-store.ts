// Set-based writes to the devices table by the fleet controller and the rollout: which fleet owns each device, the
// template version applied to owned devices, the rollout's batch marks. Thousands of devices per call: chunks are
// locked `order by name for update` (or through lockDevices) and written by one statement each, with their events in
// the same transaction. Device statements of the controllers live here until the device store takes them over.
import { sql, type SQL } from "drizzle-orm";
import type { DeviceSpecJson, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { devices } from "../../db/schema/index.js";
import { lockDevices } from "../devices/device-locks.js";
import type { NewEvent } from "../platform/event-store.js";
import { textArray } from "../platform/pg-array.js";
import type { Db, Executor } from "../platform/resource/resource-store.js";
import { labelRequirementsToSql, type LabelRequirement } from "../platform/selectors/label-selector.js";
import { readsRepositoriesSql } from "../repositories/repository-store.js";
import { insertEvents } from "./event-batch-store.js";

/** What fleet selection reads of a device. */
export interface SelectionDevice {
  name: string;
  labels: Record<string, string>;
  owner: string | null;
  status: DeviceStatusJson | null;
}

/** What the rollout reads of an owned device. */
export interface OwnedDevice {
  name: string;
  labels: Record<string, string>;
  spec: DeviceSpecJson | null;
  annotations: Record<string, string>;
  status: DeviceStatusJson | null;
}

/** Which devices a selection pass looks at: the named ones, and those a change of the named fleets may affect. */
export interface SelectionScope {
  devices: string[];
  /** The changed fleets' owner values ("Fleet/<name>") and selectors (undefined: matches nothing). */
  fleets: { owners: string[]; selectors: (LabelRequirement[] | undefined)[] };
}

/** A device's template write: its new spec (generation + 1 when it changed) and annotations. */
export interface TemplateUpdate {
  name: string;
  spec: DeviceSpecJson;
  annotations: Record<string, string>;
  specChanged: boolean;
}

/** Set-based device statements of the fleet controller. */
export function createFleetDevicesStore(db: Db) {
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

    /** Writes new owners and statuses of locked devices in one statement, with `events`. */
    async setOwners(
      tx: Executor,
      orgId: string,
      updates: { name: string; owner: string | null; status: DeviceStatusJson }[],
      events: readonly NewEvent[],
    ): Promise<void> {
      if (updates.length) {
        await tx.execute(sql`update ${devices} d set owner = u.owner, status = u.status, resource_version = nextval('resource_version_seq')
            from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as u(name text, owner text, status jsonb)
           where d.org_id = ${orgId} and d.name = u.name`);
      }
      await insertEvents(tx, orgId, events);
    },

    /** Names of the devices `owner` owns (all, or those in `only`), in name order. */
    async ownedNames(orgId: string, owner: string, only?: string[]): Promise<string[]> {
      const r = await db.execute<{ name: string }>(sql`select name from ${devices} where org_id = ${orgId} and owner = ${owner}
      ${only ? sql`and name = any(${textArray(only)})` : sql``} order by name`);
      return r.rows.map((row) => row.name);
    },

    /** Locks those of the named devices `owner` still owns, in name order, until `tx` ends. */
    async lockOwned(tx: Executor, orgId: string, owner: string, names: string[]): Promise<OwnedDevice[]> {
      const r = await tx.execute<{
        name: string;
        labels: Record<string, string>;
        spec: DeviceSpecJson | null;
        annotations: Record<string, string>;
        status: DeviceStatusJson | null;
      }>(sql`select name, labels, spec, annotations, status from ${devices}
          where org_id = ${orgId} and owner = ${owner} and name = any(${textArray(names)}) order by name for update`);
      return r.rows;
    },

    /**
     * Writes a template version into locked devices: new specs and annotations (generation + 1 where the spec
     * changed), and the statuses of devices the template could not be filled in for; then `events`. One statement each.
     */
    async applyTemplate(
      tx: Executor,
      orgId: string,
      updates: TemplateUpdate[],
      invalid: { name: string; status: DeviceStatusJson }[],
      events: readonly NewEvent[],
    ): Promise<void> {
      if (updates.length) {
        await tx.execute(sql`update ${devices} d set spec = u.spec, annotations = u.annotations,
                generation = d.generation + (case when u.spec_changed then 1 else 0 end), resource_version = nextval('resource_version_seq')
              from jsonb_to_recordset(${JSON.stringify(updates.map((u) => ({ name: u.name, spec: u.spec, annotations: u.annotations, spec_changed: u.specChanged })))}::jsonb)
                as u(name text, spec jsonb, annotations jsonb, spec_changed boolean)
             where d.org_id = ${orgId} and d.name = u.name`);
      }
      if (invalid.length) {
        await tx.execute(sql`update ${devices} d set status = u.status, resource_version = nextval('resource_version_seq')
              from jsonb_to_recordset(${JSON.stringify(invalid)}::jsonb) as u(name text, status jsonb)
             where d.org_id = ${orgId} and d.name = u.name`);
      }
      await insertEvents(tx, orgId, events);
    },

    /** Sets annotation `key` to `value` on the named devices (a rollout batch mark), locked in name order first. */
    async annotate(orgId: string, names: string[], key: string, value: string): Promise<void> {
      if (!names.length) return;
      await db.transaction(async (tx) => {
        await lockDevices(
          tx,
          names.map((name) => ({ orgId, name })),
        );
        await tx.execute(sql`update ${devices} set annotations = annotations || jsonb_build_object(${key}::text, ${value}::text),
            resource_version = nextval('resource_version_seq')
          where org_id = ${orgId} and name = any(${textArray(names)})`);
      });
    },

    /** The devices `owner` owns, for the rollout's view of them, in name order. */
    async owned(orgId: string, owner: string) {
      const r = await db.execute<{
        name: string;
        labels: Record<string, string>;
        annotations: Record<string, string>;
        status: DeviceStatusJson | null;
      }>(sql`select name, labels, annotations, status from ${devices} where org_id = ${orgId} and owner = ${owner} order by name`);
      return r.rows;
    },

    /** The org's devices without an owner whose spec reads one of `repositories`, in name order. */
    async standaloneReadingRepositories(orgId: string, repositories: readonly string[]) {
      const reads = readsRepositoriesSql(repositories, (config) => ({ config }));
      const r = await db.execute<{ name: string; spec: DeviceSpecJson }>(
        sql`select name, spec from ${devices} where org_id = ${orgId} and owner is null and (${reads}) order by name`,
      );
      return r.rows;
    },
  };
}

export type FleetDevicesStore = ReturnType<typeof createFleetDevicesStore>;
