// Whether devices exist, many in one statement: the agent gate checks it on every long-poll and renewal
// (agent-auth-interceptor.ts; the rendered-device stream and the status reports check it with their own first read).
// One statement per check was three quarters of the API's statements while agents connect (1,000 of 1,330 at 1,000
// agents); batched, a storm's checks share a few.
import { sql, type SQL } from "drizzle-orm";
import { devices } from "../../db/schema/resources.js";
import { batchLoader } from "../platform/batch-loader.js";
import { rowsOf, textArray, type Executor } from "../platform/db.js";

export interface DeviceKey {
  orgId: string;
  name: string;
}

/**
 * Devices named by (org, name) as a table for one batched statement: k(org_id, name, i), i being each key's 1-based
 * position in `keys`, so rows go back in the callers' order. Passed as two arrays, whose length the planner knows
 * (a small batch is then found by primary key). The render and status stores' batched reads select from it too.
 */
export const deviceKeysTable = (keys: readonly DeviceKey[]): SQL =>
  sql`unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.name))}) with ordinality as k(org_id, name, i)`;

/** For each key, in order: whether that device exists. */
export async function devicesExist(db: Executor, keys: readonly DeviceKey[]): Promise<boolean[]> {
  const rows = await rowsOf<{ i: string }>(
    db,
    sql`select k.i from ${deviceKeysTable(keys)}
        join ${devices} on ${devices.orgId} = k.org_id and ${devices.name} = k.name`,
  );
  const out = keys.map(() => false);
  for (const row of rows) out[Number(row.i) - 1] = true;
  return out;
}

/** The check as the agent gate calls it: what callers ask within a couple of milliseconds goes as one statement. */
export function deviceExistence(db: Executor): (orgId: string, name: string) => Promise<boolean> {
  const loader = batchLoader((keys: readonly DeviceKey[]) => devicesExist(db, keys));
  return (orgId, name) => loader.load({ orgId, name });
}
