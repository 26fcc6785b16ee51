// Row locks on devices, always taken in (org, name) order: the one statement every multi-row device write that does
// not select its rows `order by name for update` itself runs first in its transaction.
import { sql, type SQL } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import { devices } from "../../db/schema/resources.js";
import { textArray, type Executor } from "../platform/db.js";

/** `d`: the devices table in the locking statement (keeps the SQL as it was written and measured). */
const d = alias(devices, "d");

/**
 * Locks the devices named by `keys` (any organizations) until the transaction ends, in (org, name) order. Postgres
 * locks the rows of a multi-row UPDATE in whatever order its plan visits them; two writers whose sets overlap and
 * whose orders differ deadlock (seen at 10,000 devices: a batch of agent status reports against a rollout chunk).
 * Every multi-row write to devices either selects its rows `order by name for update` first in its transaction, or
 * calls this.
 */
export async function lockDevices(tx: Executor, keys: readonly { orgId: string; name: string }[]): Promise<void> {
  if (!keys.length) return;
  await tx.execute(lockDevicesSql(keys));
}

/**
 * The locking select of lockDevices, for a write that is one statement: as `with locked as materialized (…)` and a
 * `(select count(*) from locked) >= 0` in the write's WHERE, a one-time filter (an InitPlan) that takes every lock,
 * in order, before the write visits its first row (test/status-store.test.ts checks the order against a writer).
 */
export function lockDevicesSql(keys: readonly { orgId: string; name: string }[]): SQL {
  return sql`select 1 from ${devices} d
      join unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.name))}) as k(org_id, name)
        on ${d.orgId} = k.org_id and ${d.name} = k.name
     order by ${d.orgId}, ${d.name} for update of d`;
}
