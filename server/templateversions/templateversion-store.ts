// The template_versions table as the fleet controller writes it: immutable snapshots of a fleet's device template,
// made by fleet validation and read by the rollout and by the render (what a fleet member's content is frozen under).
// (Get, list and delete through the API go through the generic resource store.)
import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { TemplateVersionStatusJson } from "../../gen/flightctl/v1beta1/templateversion_pb.js";
import { templateVersions } from "../../db/schema/index.js";
import { epochMicros, rowsOf, type Executor } from "../platform/db.js";

/** What the fleet controller reads of a template version. */
export interface StoredTemplateVersion {
  /** The frozen device template, plus updatedAt. */
  status: TemplateVersionStatusJson;
  annotations: Record<string, string> | null;
}

/** A new template version: the fleet's device template frozen under `name`. */
export interface NewTemplateVersion {
  fleet: string;
  name: string;
  owner: string;
  annotations: Record<string, string>;
  /** The fleet's template spec (a device spec), stored as the status. */
  template: TemplateVersionStatusJson;
}

/** Creation time and annotations of a template version (what a fleet member's render is frozen under). */
export interface TemplateVersionStamp {
  fleet: string;
  name: string;
  annotations: Record<string, string> | null;
  /** Microseconds since the epoch, as text. */
  created: string;
}

/**
 * Template-version statements. As in the device and fleet stores, a write that must share the caller's transaction
 * takes it first; reads run on `exec` unless given another one last.
 */
export function createTemplateVersionStore(exec: Executor) {
  return {
    /** The template version `name` of `fleet`, if it exists. */
    async get(orgId: string, fleet: string, name: string, tx: Executor = exec): Promise<StoredTemplateVersion | undefined> {
      const r = await tx.execute<{ status: TemplateVersionStatusJson; annotations: Record<string, string> | null }>(
        sql`select status, annotations from ${templateVersions} where org_id = ${orgId} and fleet_name = ${fleet} and name = ${name}`,
      );
      return r.rows[0];
    },

    /** Whether `fleet` has a template version called `name`. */
    async exists(orgId: string, fleet: string, name: string, tx: Executor = exec): Promise<boolean> {
      const r = await tx.execute(
        sql`select 1 from ${templateVersions} where org_id = ${orgId} and fleet_name = ${fleet} and name = ${name}`,
      );
      return r.rows.length > 0;
    },

    /**
     * Inserts a template version (generation 1) in `tx` (the fleet's validation, under its row lock); one that exists
     * already is left as it is (versions are immutable).
     */
    async insert(tx: Executor, orgId: string, tv: NewTemplateVersion): Promise<void> {
      await tx.execute(sql`insert into ${templateVersions} (org_id, fleet_name, name, owner, labels, annotations, generation, spec, status)
          values (${orgId}, ${tv.fleet}, ${tv.name}, ${tv.owner}, '{}'::jsonb, ${JSON.stringify(tv.annotations)}::jsonb, 1, ${JSON.stringify({ fleet: tv.fleet })}::jsonb,
                  ${JSON.stringify({ ...tv.template, updatedAt: new Date().toISOString() })}::jsonb)
        on conflict do nothing`);
    },

    /** Creation time and annotations of the named template versions (fleet, name) of one org, for the render's freeze keys. */
    async stamps(orgId: string, pairs: { fleet: string; name: string }[], tx: Executor = exec): Promise<TemplateVersionStamp[]> {
      const t = alias(templateVersions, "t");
      return rowsOf<TemplateVersionStamp>(
        tx,
        sql`select ${t.fleetName} as fleet, ${t.name}, ${t.annotations}, ${epochMicros(sql`${t.createdAt}`)} as created
          from ${templateVersions} t join jsonb_to_recordset(${JSON.stringify(pairs)}::jsonb) as p(fleet text, name text)
            on ${t.fleetName} = p.fleet and ${t.name} = p.name where ${t.orgId} = ${orgId}`,
      );
    },

    /** Deletes every template version of `fleet` (the fleet is being deleted). */
    async deleteOfFleet(orgId: string, fleet: string, tx: Executor = exec): Promise<void> {
      await tx.execute(sql`delete from ${templateVersions} where org_id = ${orgId} and fleet_name = ${fleet}`);
    },
  };
}

export type TemplateVersionStore = ReturnType<typeof createTemplateVersionStore>;
