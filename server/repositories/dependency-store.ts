// What the dependency sync reads and writes: fleets whose current template version reads a git dependency, standalone
// devices whose spec does, and the commits recorded on those devices (set-based, one statement per chunk, with their
// events). Fleet writes go through the fleet store.
import { sql } from "drizzle-orm";
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { TemplateVersionStatusJson } from "../../gen/flightctl/v1beta1/templateversion_pb.js";
import { deviceRenders, devices, fleets, templateVersions } from "../../db/schema/index.js";
import { ANNOTATION_TEMPLATE_VERSION } from "../devices/device-annotations.js";
import type { NewEvent } from "../platform/event-store.js";
import { insertEvents } from "../fleets/event-batch-store.js";
import { textArray } from "../platform/pg-array.js";
import type { Executor } from "../platform/resource/resource-store.js";

/** A fleet whose current template version reads a git dependency. */
export interface GitDependentFleet {
  name: string;
  annotations: Record<string, string>;
  /** Its current template version. */
  templateVersion: string;
  template: TemplateVersionStatusJson;
  templateVersionAnnotations: Record<string, string> | null;
}

/** A standalone device whose spec reads a git dependency. */
export interface GitDependentDevice {
  name: string;
  annotations: Record<string, string>;
  spec: DeviceSpecJson;
  generation: string;
  /** Creation time in microseconds since the epoch, as text. */
  created: string;
  /** Whether it has been rendered. */
  rendered: boolean;
}

/** Dependency sync statements; `exec` is the database or the caller's transaction. */
export function createDependencyStore(exec: Executor) {
  return {
    /** Organizations with a fleet or standalone device that reads a git dependency. */
    async orgsWithGitDependencies(): Promise<string[]> {
      const r = await exec.execute<{ id: string }>(sql`select distinct org_id::text as id from (
          select f.org_id from ${fleets} f join ${templateVersions} tv on tv.org_id = f.org_id and tv.fleet_name = f.name
            and tv.name = f.annotations->>${ANNOTATION_TEMPLATE_VERSION} where tv.status @> '{"config":[{"gitRef":{}}]}'::jsonb
          union all
          select org_id from ${devices} where owner is null and spec @> '{"config":[{"gitRef":{}}]}'::jsonb
        ) x order by 1`);
      return r.rows.map((o) => o.id);
    },

    /**
     * The org's fleets (or the one named) whose current template version reads a git dependency, in name order.
     * Invalid fleets are left out: validating them again cannot make a version.
     */
    async gitDependentFleets(orgId: string, fleet?: string): Promise<GitDependentFleet[]> {
      const scope = fleet === undefined ? sql`true` : sql`f.name = ${fleet}`;
      const r = await exec.execute<{
        name: string;
        annotations: Record<string, string>;
        tv: string;
        template: TemplateVersionStatusJson;
        tv_annotations: Record<string, string> | null;
      }>(sql`select f.name, f.annotations, tv.name as tv, tv.status as template, tv.annotations as tv_annotations
      from ${fleets} f join ${templateVersions} tv on tv.org_id = f.org_id and tv.fleet_name = f.name and tv.name = f.annotations->>${ANNOTATION_TEMPLATE_VERSION}
      where f.org_id = ${orgId} and ${scope} and tv.status @> '{"config":[{"gitRef":{}}]}'::jsonb
        and not coalesce(f.status->'conditions' @> '[{"type":"Valid","status":"False"}]'::jsonb, false)
      order by f.name`);
      return r.rows.map((f) => ({
        name: f.name,
        annotations: f.annotations,
        templateVersion: f.tv,
        template: f.template,
        templateVersionAnnotations: f.tv_annotations,
      }));
    },

    /** The org's standalone devices (or the one named) whose spec reads a git dependency, in name order. */
    async gitDependentDevices(orgId: string, device?: string): Promise<GitDependentDevice[]> {
      const scope = device === undefined ? sql`true` : sql`name = ${device}`;
      const r = await exec.execute<{
        name: string;
        annotations: Record<string, string>;
        spec: DeviceSpecJson;
        generation: string | number;
        created: string;
        rendered: boolean;
      }>(sql`select d.name, d.annotations, d.spec, d.generation, (extract(epoch from d.created_at) * 1000000)::bigint::text as created,
        exists (select 1 from ${deviceRenders} r where r.org_id = d.org_id and r.name = d.name) as rendered
      from ${devices} d where d.org_id = ${orgId} and ${scope} and d.owner is null and d.spec @> '{"config":[{"gitRef":{}}]}'::jsonb order by d.name`);
      return r.rows.map((d) => ({ ...d, generation: String(d.generation) }));
    },

    /** Locks those of the named devices that are still standalone, in name order, until `tx` ends. */
    async lockStandalone(tx: Executor, orgId: string, names: string[]) {
      const r = await tx.execute<{ name: string; annotations: Record<string, string>; generation: string | number }>(
        sql`select name, annotations, generation from ${devices}
        where org_id = ${orgId} and owner is null and name = any(${textArray(names)}) order by name for update`,
      );
      return r.rows.map((d) => ({ ...d, generation: String(d.generation) }));
    },

    /** Writes new annotations of locked devices (recorded commits, probe failure streaks) in one statement, with `events`. */
    async setDeviceAnnotations(
      tx: Executor,
      orgId: string,
      updates: { name: string; annotations: Record<string, string> }[],
      events: readonly NewEvent[],
    ): Promise<void> {
      if (updates.length) {
        await tx.execute(sql`update ${devices} d set annotations = u.annotations, resource_version = nextval('resource_version_seq')
            from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as u(name text, annotations jsonb)
           where d.org_id = ${orgId} and d.name = u.name`);
      }
      await insertEvents(tx, orgId, events);
    },
  };
}
