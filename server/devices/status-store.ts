// A device's status as its agent reports it, in as few statements as possible: reports are the agent endpoint's most
// frequent write (every device, every minute, and on every change, all at once when a fleet rolls out). Reports that
// arrive together are read in one query and written in one statement (one commit), so a burst of N reports costs a
// few round trips instead of 2N, on the API and on Postgres.
import { sql } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import { insertTaggedEventsSql, type NewEvent } from "../events/event-store.js";
import type { Db } from "../platform/resource/resource-store.js";
import { textArray } from "../platform/pg-array.js";
import { batchLoader } from "../platform/batch-loader.js";
import { lockDevices } from "./device-locks.js";

/** What a report needs to know about the device: its stored status and the version rendered for it. */
export interface ReportBase {
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: JsonObject | null;
  renderedVersion?: number;
}

interface StatusWrite {
  orgId: string;
  name: string;
  expectedVersion: string;
  annotations: Record<string, string>;
  status: JsonObject;
  events: NewEvent[];
}

export function createStatusStore(db: Db) {
  const reads = batchLoader<{ orgId: string; name: string }, ReportBase | undefined>(async (keys) => {
    const r = await db.execute(sql`select k.i, d.resource_version, d.labels, d.annotations, d.status, r.rendered_version
        from unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.name))}) with ordinality as k(org_id, name, i)
        join devices d on d.org_id = k.org_id and d.name = k.name
        left join device_renders r on r.org_id = d.org_id and r.name = d.name`);
    const out: (ReportBase | undefined)[] = keys.map(() => undefined);
    for (const row of r.rows as {
      i: string;
      resource_version: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
      status: JsonObject | null;
      rendered_version: string | null;
    }[]) {
      out[Number(row.i) - 1] = {
        resourceVersion: String(row.resource_version),
        labels: row.labels,
        annotations: row.annotations,
        status: row.status,
        renderedVersion: row.rendered_version === null ? undefined : Number(row.rendered_version),
      };
    }
    return out;
  });

  // Each write is a compare-and-swap on the device's resource version; its events are written only if it won.
  const writes = batchLoader<StatusWrite, boolean>(async (items) => {
    const rows = items.map((w, i) => ({
      i,
      org_id: w.orgId,
      name: w.name,
      rv: w.expectedVersion,
      annotations: w.annotations,
      status: w.status,
    }));
    const events = items.flatMap((w, i) => w.events.map((event) => ({ orgId: w.orgId, tag: i, event })));
    const upd = sql`update devices d set annotations = u.annotations, status = u.status, resource_version = nextval('resource_version_seq')
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(i int, org_id uuid, name text, rv bigint, annotations jsonb, status jsonb)
       where d.org_id = u.org_id and d.name = u.name and d.resource_version = u.rv returning u.i`;
    const r = await db.transaction(async (tx) => {
      await lockDevices(tx, items);
      return events.length
        ? await tx.execute(
            sql`with upd as (${upd}), ev as (${insertTaggedEventsSql(events, sql`e.tag in (select i from upd)`)}) select i from upd`,
          )
        : await tx.execute(sql`with upd as (${upd}) select i from upd`);
    });
    const won = new Set((r.rows as { i: number }[]).map((row) => Number(row.i)));
    return items.map((_, i) => won.has(i));
  });

  return {
    /** The device and its render; undefined when the device does not exist. */
    read: (orgId: string, name: string): Promise<ReportBase | undefined> => reads.load({ orgId, name }),

    /**
     * Writes status and annotations if the device is still at `expectedVersion`, with the transitions' events
     * (atomic: one transaction, rows locked in name order). Returns false when the compare-and-swap lost.
     */
    write: (
      orgId: string,
      name: string,
      expectedVersion: string,
      annotations: Record<string, string>,
      status: JsonObject,
      events: NewEvent[],
    ): Promise<boolean> => writes.load({ orgId, name, expectedVersion, annotations, status, events }),
  };
}
