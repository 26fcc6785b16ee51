// A device's status as its agent reports it, in as few round trips as possible: reports are the agent endpoint's
// most frequent write (every device, every minute, and on every change), and on a loaded database each statement's
// round trip costs more than its work.
import { sql } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import { insertEventsSql, type NewEvent } from "../events/event-store.js";
import type { Db } from "../platform/resource/resource-store.js";

/** What a report needs to know about the device: its stored status and the version rendered for it. */
export interface ReportBase {
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: JsonObject | null;
  renderedVersion?: number;
}

export function createStatusStore(db: Db) {
  return {
    /** The device and its render in one query; undefined when the device does not exist. */
    async read(orgId: string, name: string): Promise<ReportBase | undefined> {
      const r = await db.execute(sql`select d.resource_version, d.labels, d.annotations, d.status, r.rendered_version
          from devices d left join device_renders r on r.org_id = d.org_id and r.name = d.name
         where d.org_id = ${orgId} and d.name = ${name}`);
      const row = r.rows[0] as
        | { resource_version: string; labels: Record<string, string>; annotations: Record<string, string>; status: JsonObject | null; rendered_version: string | null }
        | undefined;
      if (!row) return undefined;
      return {
        resourceVersion: String(row.resource_version),
        labels: row.labels,
        annotations: row.annotations,
        status: row.status,
        renderedVersion: row.rendered_version === null ? undefined : Number(row.rendered_version),
      };
    },

    /**
     * Writes status and annotations if the device is still at `expectedVersion`, with the transitions' events, as
     * one statement (atomic without a transaction). Returns false when the compare-and-swap lost.
     */
    async write(orgId: string, name: string, expectedVersion: string, annotations: Record<string, string>, status: JsonObject, events: NewEvent[]): Promise<boolean> {
      const update = sql`update devices set annotations = ${JSON.stringify(annotations)}::jsonb, status = ${JSON.stringify(status)}::jsonb,
            resource_version = nextval('resource_version_seq')
          where org_id = ${orgId} and name = ${name} and resource_version = ${expectedVersion} returning 1`;
      const r = events.length
        ? await db.execute(sql`with upd as (${update}), ev as (${insertEventsSql(orgId, events, sql`exists (select 1 from upd)`)}) select count(*)::int as n from upd`)
        : await db.execute(sql`with upd as (${update}) select count(*)::int as n from upd`);
      return (r.rows[0] as { n: number }).n > 0;
    },
  };
}
