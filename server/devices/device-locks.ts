// Row locks on devices, always taken in (org, name) order. Postgres locks the rows of a multi-row UPDATE in whatever
// order its plan visits them; two writers whose sets overlap and whose orders differ deadlock (seen at 10,000
// devices: a batch of agent status reports against a rollout chunk). Every multi-row write to devices either selects
// its rows `order by name for update` first in its transaction, or calls this.
import { sql } from "drizzle-orm";
import type { Executor } from "../platform/resource/resource-store.js";
import { textArray } from "../platform/pg-array.js";

/** Locks the devices named by `keys` (any organizations) until the transaction ends, in (org, name) order. */
export async function lockDevices(tx: Executor, keys: readonly { orgId: string; name: string }[]): Promise<void> {
  if (!keys.length) return;
  await tx.execute(sql`select 1 from devices d
      join unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.name))}) as k(org_id, name)
        on d.org_id = k.org_id and d.name = k.name
     order by d.org_id, d.name for update of d`);
}
