// Events: the audit trail. Written in the same transaction as the mutation they describe (insertEvent takes the
// transaction), read newest-first with keyset pagination on the insertion sequence.
import { sql, type SQL } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import { isoTime, type Db, type Executor } from "../platform/resource/resource-store.js";

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

/** A stored event in flightctl's Event JSON shape. */
export type EventJson = JsonObject;

export async function insertEvent(tx: Executor, orgId: string, e: NewEvent): Promise<void> {
  await tx.execute(sql`insert into events (org_id, reason, type, involved_kind, involved_name, actor, message, source_component, details, request_id)
    values (${orgId}, ${e.reason}, ${e.type}, ${e.involvedObject.kind}, ${e.involvedObject.name}, ${e.actor}, ${e.message},
            ${e.sourceComponent}, ${e.details ? sql`${JSON.stringify(e.details)}::jsonb` : sql`null`}, ${e.requestId ?? null})`);
}

/**
 * The same insert for several events as one SQL fragment, for callers that write them within a single statement
 * (a data-modifying CTE); `when` gates it on another CTE (e.g. `exists (select 1 from upd)`).
 */
export function insertEventsSql(orgId: string, events: NewEvent[], when: SQL = sql`true`): SQL {
  return insertTaggedEventsSql(
    events.map((event) => ({ orgId, tag: 0, event })),
    when,
  );
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
  return sql`insert into events (org_id, reason, type, involved_kind, involved_name, actor, message, source_component, details, request_id)
    select e.org_id, e.reason, e.type, e.involved_kind, e.involved_name, e.actor, e.message, e.source_component, e.details, e.request_id
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as e(org_id uuid, tag int, reason text, type text, involved_kind text,
           involved_name text, actor text, message text, source_component text, details jsonb, request_id text)
     where ${when}`;
}

/** An events row (as selected by this store) in flightctl JSON. */
export function eventRowToJson(row: Record<string, unknown>): EventJson {
  const ev: JsonObject = {
    apiVersion: "flightctl.io/v1beta1",
    kind: "Event",
    metadata: {
      name: row.id as string,
      creationTimestamp: new Date(row.created_at as string).toISOString(),
      ...(row.request_id ? { annotations: { "event-controller/requestID": row.request_id as string } } : {}),
    },
    involvedObject: { kind: row.involved_kind as string, name: row.involved_name as string },
    reason: row.reason as string,
    type: row.type as string,
    message: row.message as string,
    actor: row.actor as string,
    source: { component: row.source_component as string },
  };
  if (row.details) ev.details = row.details as JsonObject;
  return ev;
}

export interface EventListQuery {
  where: SQL[];
  limit: number;
  /** Keyset position: the seq of the last event of the previous page. */
  afterSeq?: string;
  order: "asc" | "desc";
}

export function createEventStore(db: Db) {
  return {
    async list(orgId: string, q: EventListQuery): Promise<{ events: EventJson[]; lastSeq?: string; remaining?: number }> {
      const cmp = q.order === "asc" ? sql`>` : sql`<`;
      const dir = q.order === "asc" ? sql`asc` : sql`desc`;
      const filter = sql.join([sql`org_id = ${orgId}`, ...q.where], sql` and `);
      const after = q.afterSeq !== undefined ? sql` and seq ${cmp} ${q.afterSeq}` : sql``;
      const res = await db.execute(
        sql`select seq, id, ${isoTime("created_at")}, reason, type, involved_kind, involved_name, actor, message, source_component, details, request_id
            from events where ${filter}${after} order by seq ${dir} limit ${q.limit + 1}`,
      );
      const rows = res.rows as Record<string, unknown>[];
      if (rows.length <= q.limit) return { events: rows.map(eventRowToJson) };
      const page = rows.slice(0, q.limit);
      const lastSeq = String(page[page.length - 1].seq);
      const counted = await db.execute(sql`select count(*)::int as n from events where ${filter} and seq ${cmp} ${lastSeq}`);
      return { events: page.map(eventRowToJson), lastSeq, remaining: (counted.rows[0] as { n: number }).n };
    },

    async get(orgId: string, id: string): Promise<EventJson | undefined> {
      if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
      const res = await db.execute(
        sql`select seq, id, ${isoTime("created_at")}, reason, type, involved_kind, involved_name, actor, message, source_component, details, request_id
            from events where org_id = ${orgId} and id = ${id}`,
      );
      const row = (res.rows as Record<string, unknown>[])[0];
      return row ? eventRowToJson(row) : undefined;
    },

    /** Deletes events older than the retention period; returns how many were removed. */
    async deleteOlderThan(cutoff: Date): Promise<number> {
      const res = await db.execute(sql`delete from events where created_at < ${cutoff.toISOString()}`);
      return res.rowCount ?? 0;
    },
  };
}

export type EventStore = ReturnType<typeof createEventStore>;
