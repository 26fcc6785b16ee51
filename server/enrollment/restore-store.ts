// The enrollment requests' side of flightctl's post-restore preparation (server/backup/ runs it in its transaction).
import { sql } from "drizzle-orm";
import { enrollmentRequests } from "../../db/schema/resources.js";
import { ANNOTATION_AWAITING_RECONNECT } from "../devices/device-status.js";
import { rowsOf, type Executor } from "../platform/db.js";

/** Marks the unapproved enrollment requests as awaiting reconnection; returns how many. */
export async function markRequestsAwaitingReconnect(tx: Executor): Promise<number> {
  const mark = JSON.stringify({ [ANNOTATION_AWAITING_RECONNECT]: "true" });
  const rows = await rowsOf<{ n: number }>(
    tx,
    sql`with marked as (
          update ${enrollmentRequests}
             set annotations = ${enrollmentRequests.annotations} || ${mark}::jsonb, resource_version = default
           where coalesce(${enrollmentRequests.status}->'approval'->>'approved', '') <> 'true'
             and ${enrollmentRequests.annotations}->>${ANNOTATION_AWAITING_RECONNECT} is distinct from 'true'
          returning 1)
        select count(*)::int as n from marked`,
  );
  return rows[0].n;
}
