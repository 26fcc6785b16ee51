// Device queries beyond the generic resource store: status summaries and the distinct-labels listing.
import { sql, type SQL } from "drizzle-orm";
import type { Db } from "../platform/resource/resource-store.js";

/** Counts per status value, as in flightctl's DevicesSummary. */
export interface DevicesSummaryCounts {
  total: number;
  summaryStatus: Record<string, number>;
  updateStatus: Record<string, number>;
  applicationStatus: Record<string, number>;
}

const emptyCounts = (): DevicesSummaryCounts => ({ total: 0, summaryStatus: {}, updateStatus: {}, applicationStatus: {} });

export function createDeviceQueries(db: Db) {
  /** Status counts of the devices matching `where`, per value of `key` (grouping sets: one scan). */
  async function countByStatus(orgId: string, where: SQL[], key: SQL): Promise<Map<string, DevicesSummaryCounts>> {
    const filter = sql.join([sql`org_id = ${orgId}`, ...where], sql` and `);
    const s = sql`(status->'summary'->>'status')`;
    const u = sql`(status->'updated'->>'status')`;
    const a = sql`(status->'applicationsSummary'->>'status')`;
    const res = await db.execute(sql`
      select ${key} as k, ${s} as s, ${u} as u, ${a} as a, grouping(${s}) as gs, grouping(${u}) as gu, grouping(${a}) as ga,
             count(*)::int as n
      from devices where ${filter}
      group by grouping sets ((${key}, ${s}), (${key}, ${u}), (${key}, ${a}), (${key}))`);
    const out = new Map<string, DevicesSummaryCounts>();
    const bump = (m: Record<string, number>, v: string | null, n: number) => (m[v ?? "Unknown"] = (m[v ?? "Unknown"] ?? 0) + n);
    for (const row of res.rows as {
      k: string;
      s: string | null;
      u: string | null;
      a: string | null;
      gs: number;
      gu: number;
      ga: number;
      n: number;
    }[]) {
      const c = out.get(row.k) ?? emptyCounts();
      out.set(row.k, c);
      if (row.gs && row.gu && row.ga) c.total = row.n;
      else if (!row.gs) bump(c.summaryStatus, row.s, row.n);
      else if (!row.gu) bump(c.updateStatus, row.u, row.n);
      else bump(c.applicationStatus, row.a, row.n);
    }
    return out;
  }

  return {
    /** Status counts of the devices matching `where` (one scan, grouping sets). */
    async summarize(orgId: string, where: SQL[]): Promise<DevicesSummaryCounts> {
      // Grouping key: the org itself (a constant is not allowed in GROUP BY), so there is exactly one group.
      return (await countByStatus(orgId, where, sql`org_id::text`)).get(orgId) ?? emptyCounts();
    },

    /** Distinct "key=value" labels of the devices matching `where`, optionally filtered per label pair. */
    async labels(orgId: string, where: SQL[], pairWhere: SQL[], limit: number): Promise<string[]> {
      const filter = sql.join([sql`org_id = ${orgId}`, ...where], sql` and `);
      const pairFilter = pairWhere.length > 0 ? sql`where ${sql.join(pairWhere, sql` and `)}` : sql``;
      const res = await db.execute(sql`
        select distinct l.key || '=' || l.value as label
        from (select labels from devices where ${filter}) d, lateral jsonb_each_text(d.labels) as l(key, value)
        ${pairFilter}
        order by 1 limit ${limit}`);
      return (res.rows as { label: string }[]).map((r) => r.label);
    },

    /** Status counts per owner ("Fleet/<name>"), all owners in one scan, for fleets' devicesSummary. */
    async summarizeByOwner(orgId: string, owners: string[]): Promise<Map<string, DevicesSummaryCounts>> {
      if (owners.length === 0) return new Map();
      const counts = await countByStatus(
        orgId,
        [
          sql`owner in (${sql.join(
            owners.map((o) => sql`${o}`),
            sql`, `,
          )})`,
        ],
        sql`owner`,
      );
      return new Map(owners.map((o) => [o, counts.get(o) ?? emptyCounts()]));
    },
  };
}

export type DeviceQueries = ReturnType<typeof createDeviceQueries>;
