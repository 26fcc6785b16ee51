// Organizations: read-only to users (created by the service, e.g. from identity-provider claims later).
import { sql } from "drizzle-orm";
import { organizations as o } from "../../db/schema/organizations.js";
import { bare, isoTime, rowsOf, type Db } from "../platform/db.js";

export interface OrganizationRow {
  id: string;
  displayName: string;
  externalId: string;
  createdAt: Date;
  resourceVersion: string;
}

/** An organizations row as selected here. */
interface Selected {
  id: string;
  display_name: string;
  external_id: string;
  created_at: string;
  resource_version: string | number;
}

const columns = sql`${o.id}, ${o.displayName}, ${o.externalId}, ${isoTime(o.createdAt)}, ${o.resourceVersion}`;

const toRow = (r: Selected): OrganizationRow => ({
  id: r.id,
  displayName: r.display_name,
  externalId: r.external_id,
  createdAt: new Date(r.created_at),
  resourceVersion: String(r.resource_version),
});

export function createOrganizationStore(db: Db) {
  return {
    async get(id: string): Promise<OrganizationRow | undefined> {
      return (await rowsOf<Selected>(db, sql`select ${columns} from ${o} where ${o.id} = ${id}`)).map(toRow)[0];
    },
    /** Rows for identity-provider organization names, creating the missing ones (concurrent-safe). */
    async ensureExternal(names: string[]): Promise<OrganizationRow[]> {
      const list = sql.join(
        names.map((n) => sql`(${n})`),
        sql`, `,
      );
      await db.execute(sql`insert into ${o} (${bare(o.id)}, ${bare(o.displayName)}, ${bare(o.externalId)})
        select gen_random_uuid(), n, n from (values ${list}) as v(n)
        on conflict (external_id) where external_id <> '' do nothing`);
      const inList = sql.join(
        names.map((n) => sql`${n}`),
        sql`, `,
      );
      return (await rowsOf<Selected>(db, sql`select ${columns} from ${o} where ${o.externalId} in (${inList})`)).map(toRow);
    },
    /** One page ordered by id; `only` restricts to those ids (a user's organizations). */
    async list(opts: { after?: string; limit: number; only?: string[] }): Promise<OrganizationRow[]> {
      const conds = [];
      if (opts.after) conds.push(sql`${o.id}::text > ${opts.after}`);
      if (opts.only)
        conds.push(
          opts.only.length
            ? sql`${o.id}::text in (${sql.join(
                opts.only.map((i) => sql`${i}`),
                sql`, `,
              )})`
            : sql`false`,
        );
      const where = conds.length ? sql`where ${sql.join(conds, sql` and `)}` : sql``;
      const rows = await rowsOf<Selected>(db, sql`select ${columns} from ${o} ${where} order by ${o.id}::text limit ${opts.limit + 1}`);
      return rows.map(toRow);
    },
  };
}

export type OrganizationStore = ReturnType<typeof createOrganizationStore>;
