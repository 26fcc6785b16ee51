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

export function createDeviceQueries(db: Db) {
  return {
    /** Status counts of the devices matching `where` (one scan, grouping sets). */
    async summarize(orgId: string, where: SQL[]): Promise<DevicesSummaryCounts> {
      const filter = sql.join([sql`org_id = ${orgId}`, ...where], sql` and `);
      const res = await db.execute(sql`
        select status->'summary'->>'status' as s, status->'updated'->>'status' as u,
               status->'applicationsSummary'->>'status' as a, grouping(status->'summary'->>'status') as gs,
               grouping(status->'updated'->>'status') as gu, grouping(status->'applicationsSummary'->>'status') as ga,
               count(*)::int as n
        from devices where ${filter}
        group by grouping sets ((status->'summary'->>'status'), (status->'updated'->>'status'),
                                (status->'applicationsSummary'->>'status'), ())`);
      const out: DevicesSummaryCounts = { total: 0, summaryStatus: {}, updateStatus: {}, applicationStatus: {} };
      for (const row of res.rows as { s: string | null; u: string | null; a: string | null; gs: number; gu: number; ga: number; n: number }[]) {
        if (row.gs && row.gu && row.ga) out.total = row.n;
        else if (!row.gs) out.summaryStatus[row.s ?? "Unknown"] = (out.summaryStatus[row.s ?? "Unknown"] ?? 0) + row.n;
        else if (!row.gu) out.updateStatus[row.u ?? "Unknown"] = (out.updateStatus[row.u ?? "Unknown"] ?? 0) + row.n;
        else out.applicationStatus[row.a ?? "Unknown"] = (out.applicationStatus[row.a ?? "Unknown"] ?? 0) + row.n;
      }
      return out;
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

    /** Device counts per owning fleet, for fleets' devicesSummary. */
    async summarizeByOwner(orgId: string, owners: string[]): Promise<Map<string, DevicesSummaryCounts>> {
      const out = new Map<string, DevicesSummaryCounts>();
      for (const owner of owners) out.set(owner, await this.summarize(orgId, [sql`owner = ${owner}`]));
      return out;
    },
  };
}

export type DeviceQueries = ReturnType<typeof createDeviceQueries>;
