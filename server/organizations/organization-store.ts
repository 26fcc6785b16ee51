// Organizations: read-only to users (created by the service, e.g. from identity-provider claims later).
import { sql } from "drizzle-orm";
import { isoTime, type Db } from "../platform/resource/resource-store.js";

export interface OrganizationRow {
  id: string;
  displayName: string;
  externalId: string;
  createdAt: Date;
  resourceVersion: string;
}

const toRow = (r: Record<string, unknown>): OrganizationRow => ({
  id: r.id as string,
  displayName: r.display_name as string,
  externalId: r.external_id as string,
  createdAt: new Date(r.created_at as string),
  resourceVersion: String(r.resource_version),
});

export function createOrganizationStore(db: Db) {
  return {
    async get(id: string): Promise<OrganizationRow | undefined> {
      const res = await db.execute(sql`select id, display_name, external_id, ${isoTime("created_at")}, resource_version from organizations where id = ${id}`);
      return (res.rows as Record<string, unknown>[]).map(toRow)[0];
    },
    async list(opts: { after?: string; limit: number }): Promise<OrganizationRow[]> {
      const after = opts.after ? sql`where id::text > ${opts.after}` : sql``;
      const res = await db.execute(
        sql`select id, display_name, external_id, ${isoTime("created_at")}, resource_version from organizations ${after} order by id::text limit ${opts.limit + 1}`,
      );
      return (res.rows as Record<string, unknown>[]).map(toRow);
    },
  };
}

export type OrganizationStore = ReturnType<typeof createOrganizationStore>;
