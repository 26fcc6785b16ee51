// flightctl's post-restore preparation, in one transaction on the restored database: every device that is not
// decommissioned waits for its agent (annotation, AwaitingReconnect summary, updated Unknown, last seen cleared),
// unapproved enrollment requests are marked the same way, and a SystemRestored event says how many were touched.
// Each kind's statements live in its own store; this only puts them in one transaction.
import { DEFAULT_ORG_ID } from "../../db/schema/organizations.js";
import { markDevicesAwaitingReconnect } from "../devices/restore-store.js";
import { markRequestsAwaitingReconnect } from "../enrollment/restore-store.js";
import { insertEvent } from "../platform/event-store.js";
import type { Db } from "../platform/db.js";

export interface PreparedCounts {
  devices: number;
  enrollmentRequests: number;
}

export async function prepareRestoredDevices(db: Db): Promise<PreparedCounts> {
  return db.transaction(async (tx) => {
    const counts = { devices: await markDevicesAwaitingReconnect(tx), enrollmentRequests: await markRequestsAwaitingReconnect(tx) };
    await insertEvent(tx, DEFAULT_ORG_ID, {
      reason: "SystemRestored",
      type: "Normal",
      message: `System restored successfully. Updated ${counts.devices} devices and ${counts.enrollmentRequests} enrollment requests for post-restoration preparation.`,
      actor: "service:flightctl-restore",
      involvedObject: { kind: "System", name: "database" },
      sourceComponent: "flightctl-restore",
    });
    return counts;
  });
}
