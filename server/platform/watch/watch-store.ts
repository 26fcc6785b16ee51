// SQL of watch streams: horizon samples, "what changed in (from, to]" for one kind with every watcher's selector
// evaluated in the same query, the resume scan, and pruning of the deletion record. Returns plain rows (records and
// event JSON), never Connect errors.
import { sql, type SQL } from "drizzle-orm";
import { events } from "../../../db/schema/events.js";
import { watchChanges, watchState } from "../../../db/schema/watch.js";
import { isoTime, rowsOf, type Db } from "../db.js";
import { toRecord, type ResourceRecord, type ResourceRow, type ResourceTable } from "../resource/resource-store.js";
import { eventRowToJson, type EventJson, type EventRow } from "../event-store.js";
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
    /**
     * Reads both sequences' last handed-out values, the current snapshot and the next transaction id in one statement.
     * The next id comes from age(xid) (next id minus the given one, at or after the snapshot's xmax) without taking an
     * id: the sampler writes nothing.
     */
    async sample(): Promise<Sample> {
      const [row] = await rowsOf<{ rv: string; ev: string; snap: string; next: string }>(
        db,
        sql`select
          (select case when is_called then last_value else last_value - 1 end from resource_version_seq)::text as rv,
          (select case when is_called then last_value else last_value - 1 end from events_seq_seq)::text as ev,
          s::text as snap,
          (b + age((b % 4294967296)::text::xid))::text as next
          from pg_current_snapshot() s, lateral (select pg_snapshot_xmax(s)::text::bigint as x) m,
          -- age() needs a normal id (32-bit 3 or more; ids 0-2 are skipped when the 32-bit counter wraps).
          lateral (select x - x % 4294967296 + greatest(x % 4294967296, 3) as b) r`,
      );
      return {
        values: { [RESOURCE_SEQ]: Number(row.rv), [EVENT_SEQ]: Number(row.ev) },
        snapshot: parseSnapshot(row.snap),
        nextXid: BigInt(row.next),
        at: Date.now(),
      };
    },

    /**
     * Rows of table `t` (kind `kind`) written, and deletions recorded, with a version in (from, to], in version order;
     * `conds` (selector + organization conditions over the table's columns) are evaluated per row.
     */
    async resourceChanges(kind: string, t: ResourceTable, from: number, to: number, conds: SQL[]): Promise<ResourceChange[]> {
      // The derived table is named like the real one: some field selectors refer to it by name (devices.org_id).
      const rows = await rowsOf<ResourceRow & { org_id: string; change_rv: string; deleted: boolean }>(
        db,
        sql`select deleted, change_rv, ${resourceColumns}${matchColumns(conds)} from (
          select false as deleted, x.resource_version as change_rv, x.* from ${t} x where x.resource_version > ${from} and x.resource_version <= ${to}
          union all
          select true, w.resource_version, o.* from ${watchChanges} w cross join lateral jsonb_populate_record(null::${t}, w.object) o
           where w.kind = ${kind} and w.op = 'DELETED' and w.resource_version > ${from} and w.resource_version <= ${to}
        ) as ${t} order by change_rv`,
      );
      return rows.map((row) => ({
        orgId: row.org_id,
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
      t: ResourceTable,
      orgId: string,
      after: number,
      cond: SQL,
    ): Promise<{ name: string; rv: number; matches: boolean; created: boolean }[]> {
      const rows = await rowsOf<{ name: string; rv: string; m: boolean; created: boolean }>(
        db,
        sql`select name, resource_version::text as rv, coalesce((${cond}), false) as m,
            (resource_version > ${after} and exists (select 1 from ${watchChanges} a where a.kind = ${kind} and a.op = 'ADDED'
               and a.org_id = ${t}.org_id and a.name = ${t}.name and a.resource_version > ${after})) as created
          from ${t} where org_id = ${orgId} and (resource_version > ${after} or coalesce((${cond}), false))`,
      );
      return rows.map((row) => ({
        name: row.name,
        rv: Number(row.rv),
        matches: row.m === true,
        created: row.created === true,
      }));
    },

    /** Deletions of `kind` in one organization after `after` (names and versions). */
    async deletionsSince(kind: string, orgId: string, after: number): Promise<{ name: string; rv: number }[]> {
      const w = watchChanges;
      const rows = await rowsOf<{ name: string; resource_version: string }>(
        db,
        sql`select ${w.name}, ${w.resourceVersion} from ${w}
          where ${w.kind} = ${kind} and ${w.op} = 'DELETED' and ${w.orgId} = ${orgId} and ${w.resourceVersion} > ${after}`,
      );
      return rows.map((x) => ({ name: x.name, rv: Number(x.resource_version) }));
    },

    /** Versions at or below this may have lost deletions to pruning: resuming there is "too old". */
    async prunedVersion(): Promise<number> {
      const [row] = await rowsOf<{ v: string }>(
        db,
        sql`select ${watchState.prunedRv}::text as v from ${watchState} where ${watchState.id} = 1`,
      );
      return Number(row?.v ?? 0);
    },

    /** Drops recorded creations and deletions older than `cutoff`, raising the pruned version past them. */
    async prune(cutoff: Date): Promise<number> {
      const [row] = await rowsOf<{ n: number }>(
        db,
        sql`with gone as (delete from ${watchChanges} where at < ${cutoff.toISOString()} returning resource_version)
          update ${watchState} set pruned_rv = greatest(pruned_rv, (select max(resource_version) from gone))
           where id = 1 and exists (select 1 from gone) returning (select count(*) from gone)::int as n`,
      );
      return row?.n ?? 0;
    },

    /** Events with seq in (from, to], in order, with each condition evaluated. */
    async eventChanges(from: number, to: number, conds: SQL[]): Promise<EventChange[]> {
      const rows = await rowsOf<EventRow & { org_id: string } & Record<string, unknown>>(
        db,
        sql`select ${eventColumns}${matchColumns(conds)} from ${events} where seq > ${from} and seq <= ${to} order by seq`,
      );
      return rows.map((row) => ({
        orgId: row.org_id,
        seq: Number(row.seq),
        event: eventRowToJson(row),
        matches: matchesOf(row, conds.length),
      }));
    },

    /** The newest `limit` matching events of an organization with seq in (after, upTo], oldest first. */
    async eventsUpTo(orgId: string, cond: SQL, after: number, upTo: number, limit: number): Promise<{ seq: number; event: EventJson }[]> {
      const rows = await rowsOf<EventRow>(
        db,
        sql`select ${eventColumns} from ${events}
          where org_id = ${orgId} and (${cond}) and seq > ${after} and seq <= ${upTo} order by seq desc limit ${limit}`,
      );
      return rows.reverse().map((row) => ({ seq: Number(row.seq), event: eventRowToJson(row) }));
    },

    /** The oldest event still kept (events are deleted by age); undefined when there are none. */
    async oldestEventSeq(): Promise<number | undefined> {
      const [{ s }] = await rowsOf<{ s: string | null }>(db, sql`select min(${events.seq})::text as s from ${events}`);
      return s === null ? undefined : Number(s);
    },
  };
}

export type WatchStore = ReturnType<typeof createWatchStore>;
