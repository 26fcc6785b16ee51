// What a fleet's rollout reads and writes of the devices it owns, for thousands of devices per call: the owned
// devices' views, the template version written into their specs (chunks locked `order by name for update` in the
// caller's transaction, one statement per set, events in the same transaction) and the rollout's batch marks (locked
// in name order through lockDevices).
import { sql, type SQL } from "drizzle-orm";
import type { DeviceSpecJson, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { devices } from "../../db/schema/resources.js";
import { textArray, type Executor } from "../platform/db.js";
import { insertEvents, type NewEvent } from "../platform/event-store.js";
import { lockDevices } from "./device-lock-store.js";

/** What the rollout reads of an owned device it may write (a type, not an interface: it types a row). */
export type OwnedDevice = {
  name: string;
  labels: Record<string, string>;
  spec: DeviceSpecJson | null;
  annotations: Record<string, string>;
  status: DeviceStatusJson | null;
};

/**
 * What a rollout's batch planning reads of an owned device, projected in SQL from its row (not the ≈1 KB status and all
 * labels): only `labelKeys` of its labels, and the status fields and annotations the plan uses, as found (null when
 * absent). The rollout derives its view from these (rollout-tasks.ts).
 */
export type OwnedRolloutRow = {
  name: string;
  /** Only the label keys asked for that the device has. */
  labels: Record<string, string>;
  /** status.summary.status. */
  summary: string | null;
  /** status.updated.status. */
  updated: string | null;
  /** The reason of the first Updating condition. */
  updatingReason: string | null;
  /** A MultipleOwners condition with status True. */
  multipleOwners: boolean;
  /** Annotations of the rollout, by key. */
  annotations: Record<string, string>;
};
/**
 * A device's template write: its new spec (generation + 1 when it changed) and annotations, and the top-level status
 * fields an inline render replaced (render-inline.ts).
 */
export interface TemplateUpdate {
  name: string;
  spec: DeviceSpecJson;
  annotations: Record<string, string>;
  specChanged: boolean;
  statusPatch?: Partial<DeviceStatusJson>;
}

/** A device the template could not be filled in for, and its status saying why. */
export interface InvalidTemplate {
  name: string;
  status: DeviceStatusJson;
}

/** Rollout statements on owned devices; `db` is the database (or a transaction) reads run on. Part of the device store. */
export function createDeviceRolloutStore(db: Executor) {
  return {
    /** Names of the devices `owner` owns (all, or those in `only`), in name order. */
    async ownedNames(orgId: string, owner: string, only?: string[]): Promise<string[]> {
      const r = await db.execute<{ name: string }>(sql`select name from ${devices} where org_id = ${orgId} and owner = ${owner}
      ${only ? sql`and name = any(${textArray(only)})` : sql``} order by name`);
      return r.rows.map((row) => row.name);
    },

    /** Locks those of the named devices `owner` still owns, in name order, until `tx` ends. */
    async lockOwned(tx: Executor, orgId: string, owner: string, names: string[]): Promise<OwnedDevice[]> {
      const r = await tx.execute<OwnedDevice>(sql`select name, labels, spec, annotations, status from ${devices}
          where org_id = ${orgId} and owner = ${owner} and name = any(${textArray(names)}) order by name for update`);
      return r.rows;
    },

    /**
     * Writes a template version into devices locked by `tx` (lockOwned): new specs and annotations (generation + 1
     * where the spec changed) with the status fields an inline render replaced, and the statuses of devices the template could not be filled in for; then `events`.
     * One statement each.
     */
    async applyTemplate(
      tx: Executor,
      orgId: string,
      updates: TemplateUpdate[],
      invalid: InvalidTemplate[],
      events: readonly NewEvent[],
    ): Promise<void> {
      if (updates.length) {
        const rows = updates.map((u) => ({
          name: u.name,
          spec: u.spec,
          annotations: u.annotations,
          spec_changed: u.specChanged,
          status_patch: u.statusPatch,
        }));
        await tx.execute(sql`update ${devices} d set spec = u.spec, annotations = u.annotations,
                generation = d.generation + (case when u.spec_changed then 1 else 0 end), resource_version = flightctl_next_version(),
                status = case when u.status_patch is null then d.status else coalesce(d.status, '{}'::jsonb) || u.status_patch end
              from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
                as u(name text, spec jsonb, annotations jsonb, spec_changed boolean, status_patch jsonb)
             where d.org_id = ${orgId} and d.name = u.name`);
      }
      if (invalid.length) {
        await tx.execute(sql`update ${devices} d set status = u.status, resource_version = flightctl_next_version()
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
            resource_version = flightctl_next_version()
          where org_id = ${orgId} and name = any(${textArray(names)})`);
      });
    },

    /**
     * The devices `owner` owns, in name order, as the rollout's planning reads them: the labels in `labelKeys` and the
     * annotations in `annotationKeys` (those the device has), and the status fields of OwnedRolloutRow. The projection
     * is SQL, so 100,000 devices' rows stay small on the wire and in the process.
     */
    async ownedForRollout(orgId: string, owner: string, labelKeys: string[], annotationKeys: string[]): Promise<OwnedRolloutRow[]> {
      // Values as text arrays in the keys' order (null: absent), cheaper to build and parse than JSON objects; the
      // status decompressed once (jsonb_to_record), not once per field read from it.
      const values = (column: SQL, keys: string[]) =>
        keys.length
          ? sql`array[${sql.join(
              keys.map((k) => sql`${column}->>${k}::text`),
              sql`, `,
            )}]`
          : sql`'{}'::text[]`;
      const r = await db.execute<
        Omit<OwnedRolloutRow, "labels" | "annotations"> & { labels: (string | null)[]; annotations: (string | null)[] }
      >(
        sql`select name, ${values(sql`labels`, labelKeys)} as labels, ${values(sql`annotations`, annotationKeys)} as annotations,
              st.summary->>'status' as summary, st.updated->>'status' as updated,
              jsonb_path_query_first(st.conditions, '$[*] ? (@.type == "Updating")')->>'reason' as "updatingReason",
              coalesce(st.conditions @> '[{"type": "MultipleOwners", "status": "True"}]', false) as "multipleOwners"
            from ${devices} left join lateral jsonb_to_record(status) as st(summary jsonb, updated jsonb, conditions jsonb) on true
            where org_id = ${orgId} and owner = ${owner} order by name`,
      );
      const record = (keys: string[], vs: (string | null)[]) => {
        const out: Record<string, string> = {};
        keys.forEach((k, i) => {
          if (vs[i] !== null) out[k] = vs[i];
        });
        return out;
      };
      return r.rows.map((row) => ({ ...row, labels: record(labelKeys, row.labels), annotations: record(annotationKeys, row.annotations) }));
    },
  };
}
