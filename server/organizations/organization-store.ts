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
      const res = await db.execute(
        sql`select id, display_name, external_id, ${isoTime("created_at")}, resource_version from organizations where id = ${id}`,
      );
      return (res.rows as Record<string, unknown>[]).map(toRow)[0];
    },
    /** Rows for identity-provider organization names, creating the missing ones (concurrent-safe). */
    async ensureExternal(names: string[]): Promise<OrganizationRow[]> {
      const list = sql.join(
        names.map((n) => sql`(${n})`),
        sql`, `,
      );
      await db.execute(sql`insert into organizations (id, display_name, external_id)
        select gen_random_uuid(), n, n from (values ${list}) as v(n)
        on conflict (external_id) where external_id <> '' do nothing`);
      const inList = sql.join(
        names.map((n) => sql`${n}`),
        sql`, `,
      );
      const res = await db.execute(
        sql`select id, display_name, external_id, ${isoTime("created_at")}, resource_version from organizations where external_id in (${inList})`,
      );
      return (res.rows as Record<string, unknown>[]).map(toRow);
    },
    /** One page ordered by id; `only` restricts to those ids (a user's organizations). */
    async list(opts: { after?: string; limit: number; only?: string[] }): Promise<OrganizationRow[]> {
      const conds = [];
      if (opts.after) conds.push(sql`id::text > ${opts.after}`);
      if (opts.only)
        conds.push(
          opts.only.length
            ? sql`id::text in (${sql.join(
                opts.only.map((i) => sql`${i}`),
                sql`, `,
              )})`
            : sql`false`,
        );
      const where = conds.length ? sql`where ${sql.join(conds, sql` and `)}` : sql``;
      const res = await db.execute(
        sql`select id, display_name, external_id, ${isoTime("created_at")}, resource_version from organizations ${where} order by id::text limit ${opts.limit + 1}`,
      );
      return (res.rows as Record<string, unknown>[]).map(toRow);
    },
  };
}

export type OrganizationStore = ReturnType<typeof createOrganizationStore>;
