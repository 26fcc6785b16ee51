// SQL of watch streams: horizon samples, "what changed in (from, to]" for one kind with every watcher's selector
// evaluated in the same query, the resume scan, and pruning of the deletion record. Returns plain rows (records and
// event JSON), never Connect errors.
import { sql, type SQL } from "drizzle-orm";
import { isoTime, toRecord, type Db, type ResourceRecord } from "../resource/resource-store.js";
import { eventRowToJson, type EventJson } from "../../events/event-store.js";
import { parseSnapshot, type Sample } from "./horizon.js";

/** The two sequences watch streams resume by: resource versions, and the events' insertion order. */
export const RESOURCE_SEQ = "resource";
export const EVENT_SEQ = "event";

/** One changed resource: its current record, or for a deletion the last state with the deletion's version. */
export interface ResourceChange {
  orgId: string;
  record: ResourceRecord;
  /** Version of this change (the record's, or the deletion's). */
  rv: number;
  deleted: boolean;
  /** Per condition passed to the query: whether the changed object matches it. */
  matches: boolean[];
}

export interface EventChange {
  orgId: string;
  seq: number;
  event: EventJson;
  matches: boolean[];
}

const resourceColumns = sql`name, labels, annotations, owner, generation, resource_version, ${isoTime("created_at")}, ${isoTime("deletion_timestamp")}, spec, status, org_id`;
const eventColumns = sql`seq, id, ${isoTime("created_at")}, reason, type, involved_kind, involved_name, actor, message, source_component, details, request_id, org_id`;

const matchColumns = (conds: SQL[]) =>
  conds.length
    ? sql`, ${sql.join(
        conds.map((c, i) => sql`coalesce((${c}), false) as ${sql.identifier(`m${i}`)}`),
        sql`, `,
      )}`
    : sql``;
const matchesOf = (row: Record<string, unknown>, n: number) => Array.from({ length: n }, (_, i) => row[`m${i}`] === true);

/**
 * A watcher's condition: its organization and its selectors (all of `conds`; none: every row), over the unqualified
 * columns of the changed rows (the kind's table or the events).
 */
export function watcherCondition(orgId: string, conds: SQL[]): SQL {
  return sql`org_id = ${orgId} and ${selectorCondition(conds)}`;
}

/** All of `conds` as one condition (none: true). */
export function selectorCondition(conds: SQL[]): SQL {
  return conds.length ? sql.join(conds, sql` and `) : sql`true`;
}

export function createWatchStore(db: Db) {
  return {
    /** Reads both sequences' last handed-out values and the current snapshot in one statement. */
    async sample(): Promise<Sample> {
      const r = await db.execute(sql`select
          (select case when is_called then last_value else last_value - 1 end from resource_version_seq)::text as rv,
          (select case when is_called then last_value else last_value - 1 end from events_seq_seq)::text as ev,
          pg_current_snapshot()::text as snap`);
      const row = r.rows[0] as { rv: string; ev: string; snap: string };
      return { values: { [RESOURCE_SEQ]: Number(row.rv), [EVENT_SEQ]: Number(row.ev) }, snapshot: parseSnapshot(row.snap), at: Date.now() };
    },

    /**
     * Rows of `table` (kind `kind`) written, and deletions recorded, with a version in (from, to], in version order;
     * `conds` (selector + organization conditions over the table's columns) are evaluated per row.
     */
    async resourceChanges(kind: string, table: string, from: number, to: number, conds: SQL[]): Promise<ResourceChange[]> {
      const t = sql.identifier(table);
      // The derived table is named like the real one: some field selectors refer to it by name (devices.org_id).
      const r = await db.execute(sql`select deleted, change_rv, ${resourceColumns}${matchColumns(conds)} from (
          select false as deleted, x.resource_version as change_rv, x.* from ${t} x where x.resource_version > ${from} and x.resource_version <= ${to}
          union all
          select true, w.resource_version, o.* from watch_changes w cross join lateral jsonb_populate_record(null::${t}, w.object) o
           where w.kind = ${kind} and w.op = 'DELETED' and w.resource_version > ${from} and w.resource_version <= ${to}
        ) as ${t} order by change_rv`);
      return (r.rows as Record<string, unknown>[]).map((row) => ({
        orgId: row.org_id as string,
        record: toRecord(row),
        rv: Number(row.change_rv),
        deleted: row.deleted === true,
        matches: matchesOf(row, conds.length),
      }));
    },

    /**
     * What a stream resuming after `after` in one organization needs, from one snapshot: every row that changed since
     * (whether it matches `cond`, whether it was created since) and the name and version of every row
     * that matches now but did not change (the client has those). Names and versions only.
     */
    async resumeScan(
      kind: string,
      table: string,
      orgId: string,
      after: number,
      cond: SQL,
    ): Promise<{ name: string; rv: number; matches: boolean; created: boolean }[]> {
      const t = sql.identifier(table);
      const r = await db.execute(sql`select name, resource_version::text as rv, coalesce((${cond}), false) as m,
            (resource_version > ${after} and exists (select 1 from watch_changes a where a.kind = ${kind} and a.op = 'ADDED'
               and a.org_id = ${t}.org_id and a.name = ${t}.name and a.resource_version > ${after})) as created
          from ${t} where org_id = ${orgId} and (resource_version > ${after} or coalesce((${cond}), false))`);
      return (r.rows as { name: string; rv: string; m: boolean; created: boolean }[]).map((row) => ({
        name: row.name,
        rv: Number(row.rv),
        matches: row.m === true,
        created: row.created === true,
      }));
    },

    /** Deletions of `kind` in one organization after `after` (names and versions). */
    async deletionsSince(kind: string, orgId: string, after: number): Promise<{ name: string; rv: number }[]> {
      const r = await db.execute(sql`select name, resource_version from watch_changes
          where kind = ${kind} and op = 'DELETED' and org_id = ${orgId} and resource_version > ${after}`);
      return (r.rows as { name: string; resource_version: string }[]).map((x) => ({ name: x.name, rv: Number(x.resource_version) }));
    },

    /** Versions at or below this may have lost deletions to pruning: resuming there is "too old". */
    async prunedVersion(): Promise<number> {
      const r = await db.execute(sql`select pruned_rv::text as v from watch_state where id = 1`);
      return Number((r.rows[0] as { v: string } | undefined)?.v ?? 0);
    },

    /** Drops recorded creations and deletions older than `cutoff`, raising the pruned version past them. */
    async prune(cutoff: Date): Promise<number> {
      const r = await db.execute(sql`with gone as (delete from watch_changes where at < ${cutoff.toISOString()} returning resource_version)
          update watch_state set pruned_rv = greatest(pruned_rv, (select max(resource_version) from gone))
           where id = 1 and exists (select 1 from gone) returning (select count(*) from gone)::int as n`);
      return (r.rows[0] as { n: number } | undefined)?.n ?? 0;
    },

    /** Events with seq in (from, to], in order, with each condition evaluated. */
    async eventChanges(from: number, to: number, conds: SQL[]): Promise<EventChange[]> {
      const r = await db.execute(
        sql`select ${eventColumns}${matchColumns(conds)} from events where seq > ${from} and seq <= ${to} order by seq`,
      );
      return (r.rows as Record<string, unknown>[]).map((row) => ({
        orgId: row.org_id as string,
        seq: Number(row.seq),
        event: eventRowToJson(row),
        matches: matchesOf(row, conds.length),
      }));
    },

    /** The newest `limit` matching events of an organization with seq in (after, upTo], oldest first. */
    async eventsUpTo(orgId: string, cond: SQL, after: number, upTo: number, limit: number): Promise<{ seq: number; event: EventJson }[]> {
      const r = await db.execute(sql`select ${eventColumns} from events
          where org_id = ${orgId} and (${cond}) and seq > ${after} and seq <= ${upTo} order by seq desc limit ${limit}`);
      return (r.rows as Record<string, unknown>[]).reverse().map((row) => ({ seq: Number(row.seq), event: eventRowToJson(row) }));
    },

    /** The oldest event still kept (events are deleted by age); undefined when there are none. */
    async oldestEventSeq(): Promise<number | undefined> {
      const r = await db.execute(sql`select min(seq)::text as s from events`);
      const s = (r.rows[0] as { s: string | null }).s;
      return s === null ? undefined : Number(s);
    },
  };
}

export type WatchStore = ReturnType<typeof createWatchStore>;
