// The ResourceSync poll's producer: a sync of every ResourceSync of every organization, each its own job, so a slow
// repository holds up nobody else. (The listing belongs in a ResourceSync store once there is one; the job producers
// are in server/jobs/queues.ts.)
import { sql } from "drizzle-orm";
import type { Db } from "../platform/resource/resource-store.js";
import { enqueueSync } from "../jobs/queues.js";

/** Queues a sync of every ResourceSync; returns how many. */
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
