// The devices' side of flightctl's post-restore preparation (server/backup/ runs it in its transaction): every device
// that is not decommissioned waits for its agent, and nobody has been seen by the restored service yet.
import { sql } from "drizzle-orm";
import { devices } from "../../db/schema/resources.js";
import { deviceLastSeen } from "../../db/schema/device-last-seen.js";
import { ANNOTATION_AWAITING_RECONNECT } from "./device-status.js";
import { rowsOf, type Executor } from "../platform/db.js";

/** flightctl's summary info for a device waiting for its first contact after a restore. */
export const AWAITING_RECONNECT_INFO = "Device has not reconnected since restore to confirm its current state.";

/** Marks the devices awaiting reconnection (annotation, AwaitingReconnect summary, updated Unknown); returns how many. */
export async function markDevicesAwaitingReconnect(tx: Executor): Promise<number> {
  const mark = JSON.stringify({ [ANNOTATION_AWAITING_RECONNECT]: "true" });
  const summary = JSON.stringify({ status: "AwaitingReconnect", info: AWAITING_RECONNECT_INFO });
  const touched = await rowsOf<{ name: string }>(
    tx,
    sql`update ${devices}
          set annotations = ${devices.annotations} || ${mark}::jsonb,
              status = jsonb_set(jsonb_set(coalesce(${devices.status}, '{}'::jsonb), '{summary}', ${summary}::jsonb),
                                 '{updated}', '{"status":"Unknown"}'::jsonb),
              resource_version = default
        where coalesce(${devices.status}->'lifecycle'->>'status', '') not in ('Decommissioned', 'Decommissioning')
          and ${devices.deletionTimestamp} is null
          and ${devices.annotations}->>${ANNOTATION_AWAITING_RECONNECT} is distinct from 'true'
      returning ${devices.name} as name`,
  );
  // Every device, not only those touched: nobody has been seen by the restored service yet.
  await tx.execute(sql`delete from ${deviceLastSeen}`);
  return touched.length;
}
