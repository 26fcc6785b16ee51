// Events: the audit trail. Written in the same transaction as the mutation they describe (insertEvent takes the
// transaction), read newest-first with keyset pagination on the insertion sequence.
import { sql, type SQL } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import { events } from "../../db/schema/events.js";
import type { EventDetailsJson, EventJson } from "../../gen/flightctl/v1beta1/event_pb.js";
import { deleteOlderInBatches, type BatchDeleteResult } from "./retention-store.js";
import { bare, isoTime, jsonb, pgTextArray, precompiled, rowsOf, type Db, type Executor } from "./db.js";

/** An event to record; `details` is flightctl's details object (with its detailType). */
export interface NewEvent {
  reason: string;
  type: "Normal" | "Warning";
  message: string;
  actor: string;
  involvedObject: { kind: string; name: string };
  sourceComponent: string;
  details?: JsonObject;
  requestId?: string;
}

/** A stored event in flightctl's Event JSON shape (the generated type). */
export type { EventJson };

/** The table, rendered once (precompiled: every write of every kind inserts an event). */
const eventsTable = precompiled(sql`${events}`);

/** The columns an event is written with, bare (for INSERT column lists). */
const writtenColumns = precompiled(
  sql.join(
    [
      events.orgId,
      events.reason,
      events.type,
      events.involvedKind,
      events.involvedName,
      events.actor,
      events.message,
      events.sourceComponent,
      events.details,
      events.requestId,
    ].map(bare),
    sql`, `,
  ),
);

/** The columns an event is read with (see eventRowToJson). */
const readColumns = sql`${events.seq}, ${events.id}, ${isoTime(events.createdAt)}, ${events.reason}, ${events.type}, ${events.involvedKind},
  ${events.involvedName}, ${events.actor}, ${events.message}, ${events.sourceComponent}, ${events.details}, ${events.requestId}`;

/** An events row as selected by this store (column names as in SQL). */
export interface EventRow {
  seq: string | number;
  id: string;
  created_at: string;
  reason: string;
  type: string;
  involved_kind: string;
  involved_name: string;
  actor: string;
  message: string;
  source_component: string;
  details: EventDetailsJson | null;
  request_id: string | null;
}

/** Writes one event (in the caller's transaction). */
export async function insertEvent(tx: Executor, orgId: string, e: NewEvent): Promise<void> {
  await tx.execute(sql`insert into ${eventsTable} (${writtenColumns})
    values (${orgId}, ${e.reason}, ${e.type}, ${e.involvedObject.kind}, ${e.involvedObject.name}, ${e.actor}, ${e.message},
            ${e.sourceComponent}, ${jsonb(e.details)}, ${e.requestId ?? null})`);
}

/**
 * Writes several events of organization `orgId` in one statement, in the caller's transaction (the form of every
 * set-based store method); nothing, not even a round trip, when there are none.
 */
export async function insertEvents(tx: Executor, orgId: string, list: readonly NewEvent[]): Promise<void> {
  if (list.length) await tx.execute(insertTaggedEventsSql(list.map((event) => ({ orgId, tag: 0, event }))));
}

/**
 * Events of any orgs as one SQL fragment; each row carries a number (`e.tag`) that `when` may test, so one statement
 * writing several devices keeps only the events of the rows it really wrote (e.g. `e.tag in (select i from upd)`).
 */
export function insertTaggedEventsSql(items: { orgId: string; tag: number; event: NewEvent }[], when: SQL = sql`true`): SQL {
  const rows = items.map(({ orgId, tag, event: e }) => ({
    org_id: orgId,
    tag,
    reason: e.reason,
    type: e.type,
    involved_kind: e.involvedObject.kind,
    involved_name: e.involvedObject.name,
    actor: e.actor,
    message: e.message,
    source_component: e.sourceComponent,
    details: e.details ?? null,
    request_id: e.requestId ?? null,
  }));
  return sql`insert into ${eventsTable} (${writtenColumns})
    select e.org_id, e.reason, e.type, e.involved_kind, e.involved_name, e.actor, e.message, e.source_component, e.details, e.request_id
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as e(org_id uuid, tag int, reason text, type text, involved_kind text,
           involved_name text, actor text, message text, source_component text, details jsonb, request_id text)
     where ${when}`;
}

/** An events row (as selected by this store) in flightctl JSON. */
export function eventRowToJson(raw: EventRow | Record<string, unknown>): EventJson {
  const row = raw as EventRow;
  const ev: EventJson = {
    apiVersion: "flightctl.io/v1beta1",
    kind: "Event",
    metadata: {
      name: row.id,
      creationTimestamp: new Date(row.created_at).toISOString(),
      ...(row.request_id ? { annotations: { "event-controller/requestID": row.request_id } } : {}),
    },
    involvedObject: { kind: row.involved_kind, name: row.involved_name },
    reason: row.reason,
    type: row.type,
    message: row.message,
    actor: row.actor,
    source: { component: row.source_component },
  };
  if (row.details) ev.details = row.details;
  return ev;
}

export interface EventListQuery {
  where: SQL[];
  limit: number;
  /** Keyset position: the seq of the last event of the previous page. */
  afterSeq?: string;
  order: "asc" | "desc";
}

/** An event as the alert exporter reads it. */
export interface SeqEvent {
  seq: number;
  /** metadata.name */
  id: string;
  orgId: string;
  at: string;
  reason: string;
  kind: string;
  name: string;
  message: string;
}

/** Events (any organization) of `reasons` with seq in (after, upTo], oldest first, at most `limit`. */
export async function eventsBySeq(
  exec: Executor,
  reasons: readonly string[],
  after: number,
  upTo: number,
  limit: number,
): Promise<SeqEvent[]> {
  const e = events;
  const rows = await rowsOf<Omit<SeqEvent, "at"> & { created_at: string }>(
    exec,
    sql`select ${e.seq}::float8 as seq, ${e.id} as id, ${e.orgId} as "orgId", ${isoTime(e.createdAt)}, ${e.reason} as reason,
      ${e.involvedKind} as kind, ${e.involvedName} as name, ${e.message} as message
      from ${e} where ${e.seq} > ${after} and ${e.seq} <= ${upTo} and ${e.reason} = any(${pgTextArray([...reasons])}::text[])
      order by ${e.seq} limit ${limit}`,
  );
  return rows.map(({ created_at, ...r }) => ({ ...r, at: created_at }));
}

/** The seq just before the first event written in the last `seconds`; undefined when there is none. */
export async function seqBefore(exec: Executor, seconds: number): Promise<number | undefined> {
  const [row] = await rowsOf<{ c: number | null }>(
    exec,
    sql`select (min(${events.seq}) - 1)::float8 as c from ${events} where ${events.createdAt} >= now() - make_interval(secs => ${seconds})`,
  );
  return row.c ?? undefined;
}

export function createEventStore(db: Db) {
  return {
    async list(orgId: string, q: EventListQuery): Promise<{ events: EventJson[]; lastSeq?: string; remaining?: number }> {
      const cmp = q.order === "asc" ? sql`>` : sql`<`;
      const dir = q.order === "asc" ? sql`asc` : sql`desc`;
      const filter = sql.join([sql`${events.orgId} = ${orgId}`, ...q.where], sql` and `);
      const after = q.afterSeq !== undefined ? sql` and ${events.seq} ${cmp} ${q.afterSeq}` : sql``;
      const rows = await rowsOf<EventRow>(
        db,
        sql`select ${readColumns} from ${events} where ${filter}${after} order by ${events.seq} ${dir} limit ${q.limit + 1}`,
      );
      if (rows.length <= q.limit) return { events: rows.map(eventRowToJson) };
      const page = rows.slice(0, q.limit);
      const lastSeq = String(page[page.length - 1].seq);
      const [counted] = await rowsOf<{ n: number }>(
        db,
        sql`select count(*)::int as n from ${events} where ${filter} and ${events.seq} ${cmp} ${lastSeq}`,
      );
      return { events: page.map(eventRowToJson), lastSeq, remaining: counted.n };
    },

    async get(orgId: string, id: string): Promise<EventJson | undefined> {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const [row] = await rowsOf<EventRow>(
        db,
        sql`select ${readColumns} from ${events} where ${events.orgId} = ${orgId} and ${events.id} = ${id}`,
      );
      return row ? eventRowToJson(row) : undefined;
    },

    /** Deletes events created before `cutoff`, `batchSize` per statement (retention; see retention-store.ts). */
    deleteOlderThan(cutoff: Date, batchSize: number): Promise<BatchDeleteResult> {
      return deleteOlderInBatches(db, { table: events, key: events.seq, createdAt: events.createdAt }, cutoff, batchSize);
    },
  };
}

export type EventStore = ReturnType<typeof createEventStore>;
