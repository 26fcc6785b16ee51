// Age-based cleanup of append-only tables (events, console sessions) in bounded batches: each batch is one short
// statement in its own transaction, so a table of millions of expired rows is emptied without one long lock, and
// writers inserting meanwhile wait at most one batch. Batches pick rows through the table's created_at index.
import { sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import type { Db } from "./db.js";

/** A table cleaned by age: its key column and its indexed creation time. */
export interface AgedTable {
  table: PgTable;
  key: PgColumn;
  createdAt: PgColumn;
}

/** What one cleanup did. */
export interface BatchDeleteResult {
  deleted: number;
  batches: number;
  /** The slowest single batch statement (ms): the longest any row lock was held. */
  longestBatchMs: number;
}

/**
 * Deletes rows created strictly before `cutoff`, at most `batchSize` per statement, until none is left. Rows created
 * at `cutoff` or later stay. Outside a transaction: every statement commits on its own.
 */
export async function deleteOlderInBatches(db: Db, t: AgedTable, cutoff: Date, batchSize: number): Promise<BatchDeleteResult> {
  const out: BatchDeleteResult = { deleted: 0, batches: 0, longestBatchMs: 0 };
  const at = cutoff.toISOString();
  for (;;) {
    const started = performance.now();
    // The subquery walks the created_at index from the oldest row; the outer delete takes those keys only.
    const res = await db.execute(
      sql`delete from ${t.table} where ${t.key} in (select ${t.key} from ${t.table} where ${t.createdAt} < ${at} order by ${t.createdAt} limit ${batchSize})`,
    );
    out.longestBatchMs = Math.max(out.longestBatchMs, performance.now() - started);
    const n = res.rowCount ?? 0;
    out.batches++;
    out.deleted += n;
    if (n < batchSize) return out;
  }
}
