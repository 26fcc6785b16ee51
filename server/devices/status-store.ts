// A device's status as its agent reports it, in as few statements as possible: reports are the agent endpoint's most
// frequent write (every device, every minute, and on every change, all at once when a fleet rolls out). Reports that
// arrive together are read in one query and written in one statement (one commit), so a burst of N reports costs a
// few round trips instead of 2N, on the API and on Postgres.
import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { deviceRenders } from "../../db/schema/device-renders.js";
import { devices } from "../../db/schema/resources.js";
import { rowsOf, type Db } from "../platform/db.js";
import { deviceKeysTable } from "./device-exists-store.js";

import { batchLoader } from "../platform/batch-loader.js";
import { createDeviceStore, type StatusWrite } from "./device-store.js";

/** What a report needs to know about the device: its stored status and the version rendered for it. */
export interface ReportBase {
  resourceVersion: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  status: DeviceStatusJson | null;
  renderedVersion?: number;
}

const d = alias(devices, "d");
const r = alias(deviceRenders, "r");

export function createStatusStore(db: Db) {
  const store = createDeviceStore(db);
  const reads = batchLoader<{ orgId: string; name: string }, ReportBase | undefined>(async (keys) => {
    const rows = await rowsOf<{
      i: string;
      resource_version: string;
      labels: Record<string, string>;
      annotations: Record<string, string>;
      status: DeviceStatusJson | null;
      rendered_version: string | null;
    }>(
      db,
      sql`select k.i, ${d.resourceVersion}, ${d.labels}, ${d.annotations}, ${d.status}, ${r.renderedVersion}
        from ${deviceKeysTable(keys)}
        join ${devices} d on ${d.orgId} = k.org_id and ${d.name} = k.name
        left join ${deviceRenders} r on ${r.orgId} = ${d.orgId} and ${r.name} = ${d.name}`,
    );
    const out: (ReportBase | undefined)[] = keys.map(() => undefined);
    for (const row of rows) {
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

  // Each write is a compare-and-swap on the device's resource version and render; its events are written only if it won.
  const writes = batchLoader<StatusWrite, boolean>((items) => store.writeStatuses(items));

  return {
    /** The device and its render; undefined when the device does not exist. */
    read: (orgId: string, name: string): Promise<ReportBase | undefined> => reads.load({ orgId, name }),

    /**
     * Writes status and annotations if the device is still at `expectedVersion` and its render at `renderedVersion`,
     * with the transitions' events (atomic: one transaction, rows locked in name order). Returns false when the
     * compare-and-swap lost.
     */
    write: (w: StatusWrite): Promise<boolean> => writes.load(w),
  };
}
