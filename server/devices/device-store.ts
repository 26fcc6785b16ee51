// The devices table and its side tables' statements, as one store: the generic resource store for Device, plus the
// named set-based reads and writes that change thousands of devices at once. This file holds the agent's and the
// renderer's (status batches, render marks, lastSeen flushes) and the queries beyond the generic ones (status
// summaries, distinct labels); the fleet selection's (device-ownership-store.ts), the rollout's
// (device-rollout-store.ts), the standalone devices' (device-standalone-store.ts) and the row locks in name order
// (device-lock-store.ts) live beside it and are composed here, so callers see one device store. Every write bumps
// resource_version from the one sequence and writes its events in the same statement or transaction.
import { sql, type SQL } from "drizzle-orm";
import { alias, PgDialect } from "drizzle-orm/pg-core";
import type { JsonObject } from "@bufbuild/protobuf";
import type { DeviceSpecJson, DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { deviceLastSeen } from "../../db/schema/device-last-seen.js";
import { deviceRenders } from "../../db/schema/device-renders.js";
import { devices } from "../../db/schema/resources.js";
import { bare, epochMicros, pgTextArray, rowsOf, sqlNames, textArray, type Executor } from "../platform/db.js";
import { createResourceStore, type ResourceRecord } from "../platform/resource/resource-store.js";
import { insertEvents, insertTaggedEventsSql, type NewEvent } from "../platform/event-store.js";
import { sharedReads } from "../platform/shared-read.js";
import { lockDevices, lockDevicesSql } from "./device-lock-store.js";
import { createDeviceOwnershipStore } from "./device-ownership-store.js";
import { createDeviceRolloutStore } from "./device-rollout-store.js";
import { createDeviceStandaloneStore } from "./device-standalone-store.js";

/** Counts per status value, as in flightctl's DevicesSummary. */
export interface DevicesSummaryCounts {
  total: number;
  summaryStatus: Record<string, number>;
  updateStatus: Record<string, number>;
  applicationStatus: Record<string, number>;
}

/** How many devices of an organization and owner ("Fleet/<name>", "" for none) have one value of one status. */
export interface DeviceStatusCount {
  orgId: string;
  owner: string;
  kind: "summary" | "updated" | "applications";
  status: string;
  count: number;
}

/** One device's compare-and-swap write of status and annotations (the agent's reports), with its events. */
export interface StatusWrite {
  orgId: string;
  name: string;
  expectedVersion: string;
  /** The rendered version the status was computed with (none: the device has no render): part of the swap's check. */
  renderedVersion?: number;
  annotations: Record<string, string>;
  status: JsonObject;
  events: NewEvent[];
}

/** What the render task reads of a device. */
export interface RenderSource {
  name: string;
  owner: string | null;
  spec: DeviceSpecJson | null;
  status: DeviceStatusJson | null;
  annotations: Record<string, string>;
  /** As text, for freeze keys. */
  generation: string;
  /** The resource version read, as text. */
  version: string;
  /** Creation time in microseconds since the epoch, as text (for freeze keys). */
  created: string;
}

/** A render's outcome on the device row: the status fields it replaced (top level) and the annotations it leaves. */
export interface RenderMark {
  name: string;
  statusPatch?: JsonObject;
  annotations: Record<string, string>;
}

/** A stored device, its spec and status in the generated JSON types. */
export type DeviceRecord = ResourceRecord<DeviceSpecJson, DeviceStatusJson>;

const emptyCounts = (): DevicesSummaryCounts => ({ total: 0, summaryStatus: {}, updateStatus: {}, applicationStatus: {} });
const copyCounts = (c: DevicesSummaryCounts): DevicesSummaryCounts => ({
  total: c.total,
  summaryStatus: { ...c.summaryStatus },
  updateStatus: { ...c.updateStatus },
  applicationStatus: { ...c.applicationStatus },
});

/**
 * The three statuses summaries count (s: summary, u: updated, a: applications) from one decompression of each
 * device's status (jsonb_to_record; three `status->…` expressions would decompress the ≈1 KB status three times, most
 * of a summary's cost at 100,000 devices). `join` follows the devices table in FROM; a missing status gives nulls.
 */
const statusTriple = {
  columns: sql`st.summary->>'status' as s, st.updated->>'status' as u, st."applicationsSummary"->>'status' as a`,
  join: sql`left join lateral jsonb_to_record(${devices.status}) as st(summary jsonb, updated jsonb, "applicationsSummary" jsonb) on true`,
};

/** `d`: the devices table in statements that join it (keeps the SQL as it was written and measured). */
const d = alias(devices, "d");
/** `dr`: a device's render, in the status write's check. */
const dr = alias(deviceRenders, "dr");

/** device_last_seen's names, rendered once: its read runs on every device read. */
const ls = sqlNames(deviceLastSeen);

/** SET target of every device write: a new version from the one sequence. */
const nextVersion = sql`${bare(devices.resourceVersion)} = flightctl_next_version()`;

/**
 * The Device store: generic resource operations plus the devices' set-based reads and writes. Convention: a statement
 * that must share the caller's transaction (a row lock, a write with its events) takes it as its first argument;
 * reads run on `db`.
 */
export function createDeviceStore(db: Executor) {
  return {
    ...createResourceStore<DeviceSpecJson, DeviceStatusJson>(db, { kind: "Device", table: devices }),
    ...createDeviceQueries(db),
    ...createDeviceOwnershipStore(db),
    ...createDeviceRolloutStore(db),
    ...createDeviceStandaloneStore(db),
    lock: lockDevices,

    /**
     * Writes status and annotations of many devices in one statement, each only if still at its expected version;
     * the events of the writes that won go in the same statement. Rows are locked in name order first, in the same
     * statement (lockDevicesSql). The rows come as arrays (unnest), whose length the planner knows: a small batch is
     * then found by primary key, where jsonb_to_recordset (estimated at 100 rows) made it hash-join a scan of every
     * device. The swap checks the device's render too: a render that did not touch the device row (device_renders
     * only) changes what its status says (updated). Returns, per item, whether its compare-and-swap won.
     */
    async writeStatuses(items: readonly StatusWrite[]): Promise<boolean[]> {
      if (!items.length) return [];
      const events = items.flatMap((w, i) => w.events.map((event) => ({ orgId: w.orgId, tag: i, event })));
      // Statuses and annotations go as one JSON array each, the row taking its element by position (jsonb -> i): a
      // text[] of JSON documents escaped every quote of every status again, most of this statement's cost on the API.
      // The parameter is a constant of the statement's (custom) plan, parsed once.
      const json = (xs: readonly unknown[]) => sql`${JSON.stringify(xs)}::jsonb`;
      const upd = sql`update ${devices} d set ${bare(devices.annotations)} = ${json(items.map((w) => w.annotations))} -> u.i,
              ${bare(devices.status)} = ${json(items.map((w) => w.status))} -> u.i, ${nextVersion}
          from unnest(${pgTextArray(items.map((_, i) => String(i)))}::int[], ${textArray(items.map((w) => w.orgId))}::uuid[],
                      ${textArray(items.map((w) => w.name))}, ${pgTextArray(items.map((w) => w.expectedVersion))}::bigint[],
                      ${pgTextArray(items.map((w) => String(w.renderedVersion ?? 0)))}::bigint[])
            as u(i, org_id, name, rv, rendered)
         where ${d.orgId} = u.org_id and ${d.name} = u.name and ${d.resourceVersion} = u.rv
           and coalesce((select ${dr.renderedVersion} from ${deviceRenders} dr where ${dr.orgId} = ${d.orgId} and ${dr.name} = ${d.name}), 0) = u.rendered
           and (${d.orgId}, ${d.name}) in (select org_id, name from locked) returning u.i`;
      const won = await rowsOf<{ i: number }>(
        db,
        sql`with locked as materialized (${lockDevicesSql(items)}), upd as (${upd})${
          events.length ? sql`, ev as (${insertTaggedEventsSql(events, sql`e.tag in (select i from upd)`)})` : sql``
        } select i from upd`,
      );
      const wonSet = new Set(won.map((row) => Number(row.i)));
      return items.map((_, i) => wonSet.has(i));
    },

    /** The named devices of one org, for rendering, in name order (no lock: resolving may take a while). */
    async renderSources(exec: Executor, orgId: string, names: string[]): Promise<RenderSource[]> {
      const rows = await rowsOf<Omit<RenderSource, "generation" | "version"> & { generation: string | number; version: string | number }>(
        exec,
        sql`select ${devices.name}, ${devices.owner}, ${devices.spec}, ${devices.status}, ${devices.annotations}, ${devices.generation},
                   ${devices.resourceVersion} as version, ${epochMicros(devices.createdAt)} as created
              from ${devices} where ${devices.orgId} = ${orgId} and ${devices.name} = any(${textArray(names)})
             order by ${devices.name}`,
      );
      return rows.map((x) => ({ ...x, generation: String(x.generation), version: String(x.version) }));
    },

    /**
     * Locks the named devices of one org in name order until the transaction of `tx` ends, and says which version of
     * each it locked: a render reuses what it read before for rows still at that version (no second read of spec and
     * status), and re-reads the others with renderSources.
     */
    async lockForRender(tx: Executor, orgId: string, names: string[]): Promise<{ name: string; version: string }[]> {
      const rows = await rowsOf<{ name: string; version: string | number }>(
        tx,
        sql`select ${devices.name}, ${devices.resourceVersion} as version
              from ${devices} where ${devices.orgId} = ${orgId} and ${devices.name} = any(${textArray(names)})
             order by ${devices.name} for update`,
      );
      return rows.map((x) => ({ name: x.name, version: String(x.version) }));
    },

    /**
     * Writes what renders changed on device rows (the status fields they replaced, annotations), one org, one
     * statement; the rows must be locked by the caller's transaction (lockForRender). The events go in the same
     * transaction.
     */
    async markRendered(tx: Executor, orgId: string, marks: RenderMark[], events: NewEvent[]): Promise<void> {
      if (marks.length) {
        await tx.execute(sql`update ${devices} d set ${bare(devices.status)} = case when u.status_patch is null then d.status
                  else coalesce(d.status, '{}'::jsonb) || u.status_patch end,
                ${bare(devices.annotations)} = u.annotations, ${nextVersion}
            from jsonb_to_recordset(${JSON.stringify(marks.map((m) => ({ name: m.name, status_patch: m.statusPatch, annotations: m.annotations })))}::jsonb)
              as u(name text, status_patch jsonb, annotations jsonb)
           where ${d.orgId} = ${orgId} and ${d.name} = u.name`);
      }
      await insertEvents(tx, orgId, events);
    },

    /** Names of the devices matching `where` whose `annotation` is "true". */
    async namesWithAnnotation(orgId: string, annotation: string, where: SQL[]): Promise<string[]> {
      const rows = await rowsOf<{ name: string }>(
        db,
        sql`select ${devices.name} from ${devices} where ${sql.join(
          [sql`${devices.orgId} = ${orgId}`, sql`${devices.annotations}->>${annotation} = 'true'`, ...where],
          sql` and `,
        )}`,
      );
      return rows.map((r) => r.name);
    },

    /**
     * Up to `limit` devices (any org) last seen before `seconds` ago whose summary is not Unknown or AwaitingReconnect
     * yet: the disconnect sweep's work.
     */
    async disconnectedCandidates(seconds: number, limit: number): Promise<{ orgId: string; name: string }[]> {
      const l = alias(deviceLastSeen, "l");
      return rowsOf<{ orgId: string; name: string }>(
        db,
        sql`select ${d.orgId} as "orgId", ${d.name} from ${devices} d
          join ${deviceLastSeen} l on ${l.orgId} = ${d.orgId} and ${l.name} = ${d.name}
          where ${l.lastSeen} < now() - make_interval(secs => ${seconds})
            and coalesce(${d.status}->'summary'->>'status', '') not in ('Unknown', 'AwaitingReconnect')
          limit ${limit}`,
      );
    },

    /** Records when devices were last heard from (one statement for the batch; a later time never goes back). */
    async recordLastSeen(batch: readonly { orgId: string; name: string; at: Date }[]): Promise<void> {
      if (!batch.length) return;
      const orgs = `{${batch.map((b) => b.orgId).join(",")}}`;
      const times = `{${batch.map((b) => b.at.toISOString()).join(",")}}`;
      await db.execute(sql`insert into ${deviceLastSeen} (${bare(deviceLastSeen.orgId)}, ${bare(deviceLastSeen.name)}, ${bare(deviceLastSeen.lastSeen)})
        select * from unnest(${orgs}::uuid[], ${pgTextArray(batch.map((b) => b.name))}::text[], ${times}::timestamptz[])
        on conflict (org_id, name) do update set ${bare(deviceLastSeen.lastSeen)} = greatest(${deviceLastSeen.lastSeen}, excluded.last_seen)`);
    },
  };
}

export type DeviceStore = ReturnType<typeof createDeviceStore>;

/** Device queries beyond the generic resource store: last-seen times, status summaries and the distinct-labels listing. */
export function createDeviceQueries(db: Executor) {
  // A summary scans every selected device (seconds at 100,000) and the web overview polls it from every open page:
  // callers asking the same statement at the same time share one run, never one that started before they asked.
  const sharedCounts = sharedReads<Map<string, DevicesSummaryCounts>>();
  const dialect = new PgDialect();

  /**
   * Status counts of the devices matching `where`, per value of `key` (one scan), shared with
   * concurrent callers of the same statement (sharedReads: no staleness); each caller gets its own copy.
   */
  async function countByStatus(orgId: string, where: SQL[], key: SQL): Promise<Map<string, DevicesSummaryCounts>> {
    const query = countByStatusSql(orgId, where, key);
    const q = dialect.sqlToQuery(query);
    const counts = await sharedCounts(JSON.stringify([q.sql, q.params]), () => runCountByStatus(query));
    return new Map([...counts].map(([k, c]) => [k, copyCounts(c)]));
  }

  /** One row per (key, summary, updated, applications) combination present (a handful): one pass (statusTriple). */
  function countByStatusSql(orgId: string, where: SQL[], key: SQL): SQL {
    const filter = sql.join([sql`${devices.orgId} = ${orgId}`, ...where], sql` and `);
    return sql`select ${key} as k, ${statusTriple.columns}, count(*)::int as n
      from ${devices} ${statusTriple.join} where ${filter} group by 1, 2, 3, 4`;
  }

  async function runCountByStatus(query: SQL): Promise<Map<string, DevicesSummaryCounts>> {
    const rows = await rowsOf<{ k: string; s: string | null; u: string | null; a: string | null; n: number }>(db, query);
    const out = new Map<string, DevicesSummaryCounts>();
    const bump = (m: Record<string, number>, v: string | null, n: number) => (m[v ?? "Unknown"] = (m[v ?? "Unknown"] ?? 0) + n);
    for (const row of rows) {
      const c = out.get(row.k) ?? emptyCounts();
      out.set(row.k, c);
      c.total += row.n;
      bump(c.summaryStatus, row.s, row.n);
      bump(c.updateStatus, row.u, row.n);
      bump(c.applicationStatus, row.a, row.n);
    }
    return out;
  }

  return {
    /** The labels and owner of each of `keys` (any organizations; absent devices are left out). For alert labels. */
    async labelsAndOwners(keys: readonly { orgId: string; name: string }[]) {
      if (!keys.length) return [];
      const d = devices;
      return rowsOf<{ orgId: string; name: string; labels: Record<string, string> | null; owner: string | null }>(
        db,
        sql`select ${d.orgId} as "orgId", ${d.name} as name, ${d.labels} as labels, ${d.owner} as owner from ${d}
          where (${d.orgId}, ${d.name}) in (select * from unnest(${pgTextArray(keys.map((k) => k.orgId))}::uuid[],
            ${pgTextArray(keys.map((k) => k.name))}::text[]))`,
      );
    },

    /** When each of `names` was last heard from, as of the last flush; never-seen devices are absent. */
    async lastSeenOf(orgId: string, names: string[]): Promise<Map<string, Date>> {
      if (!names.length) return new Map();
      const rows = await rowsOf<{ name: string; last_seen: Date }>(
        db,
        sql`select ${ls.name}, ${ls.lastSeen} from ${ls.$table} where ${ls.orgId} = ${orgId} and ${ls.name} = any(${textArray(names)})`,
      );
      return new Map(rows.map((r) => [r.name, new Date(r.last_seen)]));
    },

    /** Status counts of the devices matching `where` (one scan). */
    async summarize(orgId: string, where: SQL[]): Promise<DevicesSummaryCounts> {
      // Grouping key: the org itself (a constant is not allowed in GROUP BY), so there is exactly one group.
      return (await countByStatus(orgId, where, sql`${devices.orgId}::text`)).get(orgId) ?? emptyCounts();
    },

    /** Distinct "key=value" labels of the devices matching `where`, optionally filtered per label pair. */
    async labels(orgId: string, where: SQL[], pairWhere: SQL[], limit: number): Promise<string[]> {
      const filter = sql.join([sql`${devices.orgId} = ${orgId}`, ...where], sql` and `);
      const pairFilter = pairWhere.length > 0 ? sql`where ${sql.join(pairWhere, sql` and `)}` : sql``;
      const rows = await rowsOf<{ label: string }>(
        db,
        sql`
        select distinct l.key || '=' || l.value as label
        from (select ${devices.labels} from ${devices} where ${filter}) d, lateral jsonb_each_text(d.labels) as l(key, value)
        ${pairFilter}
        order by 1 limit ${limit}`,
      );
      return rows.map((r) => r.label);
    },

    /**
     * Every organization's devices counted per owner and per value of each of the three statuses (summary, updated,
     * applications), for the fleet-wide service metrics and fleet alert rules: one scan of the table whatever the
     * number of devices (one row per status combination, folded here), a few rows per fleet out. A missing status
     * counts as "Unknown", as in the API's summaries; `byOwner` false folds the owners into "" (fewer series).
     */
    async countStatusesForMetrics(byOwner: boolean): Promise<DeviceStatusCount[]> {
      const owner = byOwner ? sql`coalesce(${devices.owner}, '')` : sql`''`;
      const rows = await rowsOf<{ org: string; owner: string; s: string | null; u: string | null; a: string | null; n: number }>(
        db,
        sql`select ${devices.orgId}::text as org, ${owner} as owner, ${statusTriple.columns}, count(*)::int as n
          from ${devices} ${statusTriple.join} group by 1, 2, 3, 4, 5`,
      );
      const out = new Map<string, DeviceStatusCount>();
      for (const r of rows)
        for (const [kind, status] of [
          ["summary", r.s],
          ["updated", r.u],
          ["applications", r.a],
        ] as const) {
          const key = JSON.stringify([r.org, r.owner, kind, status ?? "Unknown"]);
          const c = out.get(key);
          if (c) c.count += r.n;
          else out.set(key, { orgId: r.org, owner: r.owner, kind, status: status ?? "Unknown", count: r.n });
        }
      return [...out.values()];
    },

    /** Status counts per owner ("Fleet/<name>"), all owners in one scan, for fleets' devicesSummary. */
    async summarizeByOwner(orgId: string, owners: string[]): Promise<Map<string, DevicesSummaryCounts>> {
      if (owners.length === 0) return new Map();
      const counts = await countByStatus(
        orgId,
        [
          sql`${devices.owner} in (${sql.join(
            owners.map((o) => sql`${o}`),
            sql`, `,
          )})`,
        ],
        sql`${devices.owner}`,
      );
      return new Map(owners.map((o) => [o, counts.get(o) ?? emptyCounts()]));
    },
  };
}

export type DeviceQueries = ReturnType<typeof createDeviceQueries>;
