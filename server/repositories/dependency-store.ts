// What the dependency sync reads across kinds: the fleets whose current template version reads a git dependency (a
// fleet joined with its template version) and the organizations that have such a fleet or a standalone device that
// reads one. These are read-only joins over the fleets', template versions' and devices' tables, kept here because
// only the sync asks them and each is one statement (one scan, served by the jsonb indexes) rather than a read per
// kind joined in memory. Every write goes through the owning kind's store: fleets through the fleet store, standalone
// devices (their lock and the commits recorded on them) through the device store.
import { sql } from "drizzle-orm";
import type { TemplateVersionStatusJson } from "../../gen/flightctl/v1beta1/templateversion_pb.js";
import { devices, fleets, templateVersions } from "../../db/schema/index.js";
import { ANNOTATION_TEMPLATE_VERSION } from "../devices/device-annotations.js";
import type { Executor } from "../platform/db.js";

/** A fleet whose current template version reads a git dependency. */
export interface GitDependentFleet {
  name: string;
  annotations: Record<string, string>;
  /** Its current template version. */
  templateVersion: string;
  template: TemplateVersionStatusJson;
  templateVersionAnnotations: Record<string, string> | null;
}

/** The dependency sync's cross-kind reads; `exec` is the database or the caller's transaction. */
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
  };
}
