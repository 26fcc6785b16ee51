// ResourceSync jobs: one sync per ResourceSync (keyed, so a burst of pushes, edits and polls becomes one run), queued
// in the transaction of the write that causes it, by the webhook RPC, and by the periodic poll.
import { sql } from "drizzle-orm";
import { enqueue } from "../platform/jobs.js";
import type { Db, Executor } from "../platform/resource/resource-store.js";

export const TASK_RESOURCESYNC_SYNC = "resourcesync_sync";
/** Periodic: queues a sync of every ResourceSync of every organization. */
export const TASK_RESOURCESYNC_POLL = "resourcesync_poll";

export interface SyncPayload {
  orgId: string;
  name: string;
}

export const enqueueSync = (tx: Executor, orgId: string, name: string) =>
  enqueue(tx, TASK_RESOURCESYNC_SYNC, { orgId, name } satisfies SyncPayload, { jobKey: `resourcesync:${orgId}/${name}`, maxAttempts: 5 });

/** Queues a sync now (the webhook RPC); the caller has checked that the ResourceSync exists. */
export const queueSync = (db: Db, orgId: string, name: string) => db.transaction((tx) => enqueueSync(tx, orgId, name));

/** Queues a sync of every ResourceSync (each runs as its own job, so a slow repository holds up nobody else). */
export async function queueAllSyncs(db: Db): Promise<number> {
  return db.transaction(async (tx) => {
    const rows = (await tx.execute(sql`select org_id, name from resource_syncs order by org_id, name`)).rows as {
      org_id: string;
      name: string;
    }[];
    for (const r of rows) await enqueueSync(tx, r.org_id, r.name);
    return rows.length;
  });
}
