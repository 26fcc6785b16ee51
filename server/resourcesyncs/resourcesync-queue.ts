// The ResourceSync poll's producer: a sync of every ResourceSync of every organization, each its own job, so a slow
// repository holds up nobody else.
import type { Db } from "../platform/resource/resource-store.js";
import { enqueueSync } from "../jobs/queues.js";
import { createResourceSyncStore } from "./resourcesync-store.js";

/** Queues a sync of every ResourceSync; returns how many. */
export async function queueAllSyncs(db: Db): Promise<number> {
  return db.transaction(async (tx) => {
    const keys = await createResourceSyncStore(tx).listAllKeys();
    for (const k of keys) await enqueueSync(tx, k.orgId, k.name);
    return keys.length;
  });
}
