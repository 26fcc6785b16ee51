// SQL of the alert exporter: its advisory lock, its event cursor and the alerts it holds (db/schema/alerts.ts). The
// events it reads are the event store's (eventsBySeq), the devices' labels the device store's. Plain rows in and out.
import { sql } from "drizzle-orm";
import { alertExporterState, alerts } from "../../db/schema/alerts.js";
import { isoTime, pgTextArray, rowsOf, type Executor } from "../platform/db.js";
import type { SeqEvent } from "../platform/event-store.js";

/** The session advisory lock only the active exporter holds ("flctalrt" as a 64-bit number). */
const LOCK_KEY = sql`x'666c6374616c7274'::bigint`;

/** An event the rules read. */
export type AlertEvent = SeqEvent;

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

    async saveCursor(tx: Executor, cursor: number): Promise<void> {
      await tx.execute(sql`insert into ${alertExporterState} (id, cursor) values (1, ${cursor})
        on conflict (id) do update set cursor = excluded.cursor, updated_at = now()`);
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

    /** The active alerts of `kind` named one of `names`. */
    async activeNamed(tx: Executor, kind: string, names: readonly string[]): Promise<AlertRow[]> {
      if (!names.length) return [];
      const rows = await rowsOf<AlertSelect>(
        tx,
        sql`select ${alertColumns} from ${alerts} where ends_at is null and kind = ${kind} and alertname = any(${pgTextArray([...names])}::text[])`,
      );
      return rows.map(toAlertRow);
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
