// SQL of the alert exporter: its advisory lock, its event cursor, the events it reads, the devices' labels and fleets,
// and the alerts it holds (db/schema/alerts.ts). Plain rows in and out.
import { sql } from "drizzle-orm";
import { alertExporterState, alerts } from "../../db/schema/alerts.js";
import { events } from "../../db/schema/events.js";
import { devices } from "../../db/schema/resources.js";
import { isoTime, pgTextArray, rowsOf, type Executor } from "../platform/db.js";

/** The session advisory lock only the active exporter holds ("flctalrt" as a 64-bit number). */
const LOCK_KEY = sql`x'666c6374616c7274'::bigint`;

/** An event the rules read. */
export interface AlertEvent {
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

/** A held alert, as stored. */
export interface AlertRow {
  orgId: string;
  kind: string;
  resource: string;
  alertname: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string | null;
  eventSeq: number;
}

/** A resource whose alerts are looked up. */
export interface ResourceKey {
  orgId: string;
  kind: string;
  resource: string;
}

const alertColumns = sql`org_id as "orgId", kind, resource, alertname, labels, annotations,
  ${isoTime(alerts.startsAt)}, ${isoTime(alerts.endsAt)}, event_seq::float8 as "eventSeq"`;
type AlertSelect = Omit<AlertRow, "startsAt" | "endsAt"> & { starts_at: string; ends_at: string | null };
const toAlertRow = ({ starts_at, ends_at, ...r }: AlertSelect): AlertRow => ({ ...r, startsAt: starts_at, endsAt: ends_at });

export function createAlertStore(db: Executor) {
  return {
    /** Takes the exporter's lock for this session; false when another session holds it. */
    async tryLock(): Promise<boolean> {
      const [row] = await rowsOf<{ ok: boolean }>(db, sql`select pg_try_advisory_lock(${LOCK_KEY}) as ok`);
      return row.ok === true;
    },

    /** The cursor, locked for this transaction; undefined before the first run. */
    async cursor(tx: Executor): Promise<number | undefined> {
      const [row] = await rowsOf<{ c: number }>(
        tx,
        sql`select ${alertExporterState.cursor}::float8 as c from ${alertExporterState} where ${alertExporterState.id} = 1 for update`,
      );
      return row?.c;
    },

    /** Where a first run starts: before the events of the last hour (as flightctl), at most at `horizon`. */
    async initialCursor(tx: Executor, horizon: number): Promise<number> {
      const [row] = await rowsOf<{ c: number | null }>(
        tx,
        sql`select (min(${events.seq}) - 1)::float8 as c from ${events} where ${events.createdAt} >= now() - interval '1 hour'`,
      );
      return Math.min(row.c ?? horizon, horizon);
    },

    async saveCursor(tx: Executor, cursor: number): Promise<void> {
      await tx.execute(sql`insert into ${alertExporterState} (id, cursor) values (1, ${cursor})
        on conflict (id) do update set cursor = excluded.cursor, updated_at = now()`);
    },

    /** Events of `reasons` with seq in (after, upTo], oldest first, at most `limit`. */
    async events(tx: Executor, reasons: readonly string[], after: number, upTo: number, limit: number): Promise<AlertEvent[]> {
      const e = events;
      const rows = await rowsOf<Omit<AlertEvent, "at"> & { created_at: string }>(
        tx,
        sql`select ${e.seq}::float8 as seq, ${e.id} as id, ${e.orgId} as "orgId", ${isoTime(e.createdAt)}, ${e.reason} as reason,
          ${e.involvedKind} as kind, ${e.involvedName} as name, ${e.message} as message
          from ${e} where ${e.seq} > ${after} and ${e.seq} <= ${upTo} and ${e.reason} = any(${pgTextArray([...reasons])}::text[])
          order by ${e.seq} limit ${limit}`,
      );
      return rows.map(({ created_at, ...r }) => ({ ...r, at: created_at }));
    },

    /** The active alerts of `keys`. */
    async active(tx: Executor, keys: readonly ResourceKey[]): Promise<AlertRow[]> {
      if (!keys.length) return [];
      const rows = await rowsOf<AlertSelect>(
        tx,
        sql`select ${alertColumns} from ${alerts}
          where ends_at is null and (org_id, kind, resource) in (
            select * from unnest(${pgTextArray(keys.map((k) => k.orgId))}::uuid[], ${pgTextArray(keys.map((k) => k.kind))}::text[],
              ${pgTextArray(keys.map((k) => k.resource))}::text[]))`,
      );
      return rows.map(toAlertRow);
    },

    /** The labels and owner of devices (absent ones are left out). */
    async devices(tx: Executor, keys: readonly { orgId: string; name: string }[]) {
      if (!keys.length) return [];
      const d = devices;
      return rowsOf<{ orgId: string; name: string; labels: Record<string, string> | null; owner: string | null }>(
        tx,
        sql`select ${d.orgId} as "orgId", ${d.name} as name, ${d.labels} as labels, ${d.owner} as owner from ${d}
          where (${d.orgId}, ${d.name}) in (select * from unnest(${pgTextArray(keys.map((k) => k.orgId))}::uuid[],
            ${pgTextArray(keys.map((k) => k.name))}::text[]))`,
      );
    },

    /** Writes alerts as given (fired or resolved), marked for sending. */
    async put(tx: Executor, rows: readonly AlertRow[]): Promise<void> {
      if (!rows.length) return;
      await tx.execute(sql`insert into ${alerts} (org_id, kind, resource, alertname, labels, annotations, starts_at, ends_at, dirty, event_seq)
        select "orgId", kind, resource, alertname, labels, annotations, "startsAt", "endsAt", true, "eventSeq"
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x("orgId" uuid, kind text, resource text, alertname text,
          labels jsonb, annotations jsonb, "startsAt" timestamptz, "endsAt" timestamptz, "eventSeq" bigint)
        on conflict (org_id, kind, resource, alertname) do update set labels = excluded.labels, annotations = excluded.annotations,
          starts_at = excluded.starts_at, ends_at = excluded.ends_at, dirty = true, event_seq = excluded.event_seq`);
    },

    /** Alerts to send: those changed since Alertmanager last took them, or all (`all`), in key order. */
    async toSend(all: boolean): Promise<AlertRow[]> {
      const rows = await rowsOf<AlertSelect>(
        db,
        sql`select ${alertColumns} from ${alerts} ${all ? sql`` : sql`where dirty`} order by org_id, kind, resource, alertname`,
      );
      return rows.map(toAlertRow);
    },

    /** Alertmanager took `rows`: resolved ones are done (deleted), active ones are clean, unless changed since. */
    async accepted(rows: readonly AlertRow[]): Promise<void> {
      if (!rows.length) return;
      await db.execute(sql`with x as (select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          as x("orgId" uuid, kind text, resource text, alertname text, "eventSeq" bigint)),
        gone as (delete from ${alerts} a using x where a.org_id = x."orgId" and a.kind = x.kind and a.resource = x.resource
          and a.alertname = x.alertname and a.event_seq = x."eventSeq" and a.ends_at is not null returning 1)
        update ${alerts} a set dirty = false from x where a.org_id = x."orgId" and a.kind = x.kind and a.resource = x.resource
          and a.alertname = x.alertname and a.event_seq = x."eventSeq" and a.ends_at is null and a.dirty`);
    },

    /** Held alerts: active, and resolved but not yet taken by Alertmanager. */
    async counts(): Promise<{ active: number; resolving: number }> {
      const [row] = await rowsOf<{ active: number; resolving: number }>(
        db,
        sql`select count(*) filter (where ends_at is null)::int as active, count(*) filter (where ends_at is not null)::int as resolving
          from ${alerts}`,
      );
      return row;
    },
  };
}

export type AlertStore = ReturnType<typeof createAlertStore>;
