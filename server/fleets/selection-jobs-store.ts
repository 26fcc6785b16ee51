// A read of graphile-worker's job table for the rollout: whether a fleet's members are being recomputed.
import { sql } from "drizzle-orm";
import type { Executor } from "../platform/resource/resource-store.js";
import { TASK_FLEET_SELECTION } from "./fleet-queue.js";

/**
 * Whether a selection job for the fleet itself (queued by a fleet write) waits or runs: until it is done, the fleet's
 * owned devices are not final.
 */
export async function selectionPending(exec: Executor, orgId: string, fleet: string): Promise<boolean> {
  const r = await exec.execute(sql`select 1 from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
      where t.identifier = ${TASK_FLEET_SELECTION} and j.payload::jsonb @> ${JSON.stringify([{ orgId, fleet }])}::jsonb limit 1`);
  return r.rows.length > 0;
}
