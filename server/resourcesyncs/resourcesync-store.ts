// The resource_syncs table as the ResourceSync controller writes it: the status of a sync (with its events) and the
// row lock that serializes syncs of one ResourceSync. (API writes go through the generic resource store.)
import { sql } from "drizzle-orm";
import type { ResourceSyncStatusJson } from "../../gen/flightctl/v1beta1/resourcesync_pb.js";
import { resourceSyncs } from "../../db/schema/index.js";
import { insertEvents, type NewEvent } from "../platform/event-store.js";
import type { Executor } from "../platform/resource/resource-store.js";

/**
 * ResourceSync controller statements. As in the device and fleet stores, a statement that must share the caller's
 * transaction (a row lock, a write with its events) takes it first; reads run on `exec` unless given another one last.
 */
export function createResourceSyncStore(exec: Executor) {
  return {
    /**
     * Writes `status` with a new resource_version, and `events`, unless the spec moved on meanwhile (the generation is
     * no longer `generation`). Returns whether it wrote.
     */
    async writeStatus(
      tx: Executor,
      key: { orgId: string; name: string; generation: number },
      status: ResourceSyncStatusJson,
      events: readonly NewEvent[],
    ): Promise<boolean> {
      const r = await tx.execute(
        sql`update ${resourceSyncs} set status = ${JSON.stringify(status)}::jsonb, resource_version = flightctl_next_version()
      where org_id = ${key.orgId} and name = ${key.name} and generation = ${key.generation} returning name`,
      );
      if (r.rows.length === 0) return false;
      await insertEvents(tx, key.orgId, events);
      return true;
    },

    /**
     * ResourceSyncs per organization and the status of their Synced condition ("True", "False", "Unknown"; "none"
     * before the first sync), for the service metrics.
     */
    async countBySyncedStatus(tx: Executor = exec): Promise<{ orgId: string; status: string; count: number }[]> {
      const r = await tx.execute<{ org: string; status: string; n: number }>(sql`
        select org_id::text as org,
               coalesce((select c->>'status' from jsonb_array_elements(coalesce(status->'conditions', '[]'::jsonb)) c
                          where c->>'type' = 'Synced' limit 1), 'none') as status,
               count(*)::int as n
        from ${resourceSyncs} group by 1, 2`);
      return r.rows.map((row) => ({ orgId: row.org, status: row.status, count: row.n }));
    },

    /** Every ResourceSync of every organization, in a stable order (the poll queues a sync of each). */
    async listAllKeys(tx: Executor = exec): Promise<{ orgId: string; name: string }[]> {
      const r = await tx.execute<{ org_id: string; name: string }>(sql`select org_id, name from ${resourceSyncs} order by org_id, name`);
      return r.rows.map((row) => ({ orgId: row.org_id, name: row.name }));
    },

    /** Locks the ResourceSync until `tx` ends (syncs of one ResourceSync serialize on it); its generation, or undefined when gone. */
    async lockGeneration(tx: Executor, orgId: string, name: string): Promise<number | undefined> {
      const r = await tx.execute<{ generation: string | number }>(
        sql`select generation from ${resourceSyncs} where org_id = ${orgId} and name = ${name} for update`,
      );
      return r.rows[0] ? Number(r.rows[0].generation) : undefined;
    },
  };
}
