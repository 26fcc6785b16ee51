// The telemetry gateway's one read of the devices table (server/telemetry/device-directory.ts): many devices of one organization in one statement, so a burst
// of devices connecting at once costs a few queries rather than one each on the gateway's small pool.
import { sql } from "drizzle-orm";
import { devices } from "../../db/schema/index.js";
import { type Executor, rowsOf } from "../platform/db.js";
import { textArray } from "../platform/pg-array.js";

/** Owner ("Fleet/<name>" or null) of each named device of `orgId` that exists; absent names are not in the map. */
export async function deviceOwners(db: Executor, orgId: string, names: string[]): Promise<Map<string, string | null>> {
  const rows = await rowsOf<{ name: string; owner: string | null }>(
    db,
    sql`select name, owner from ${devices} where org_id = ${orgId} and name = any(${textArray(names)})`,
  );
  return new Map(rows.map((r) => [r.name, r.owner]));
}
