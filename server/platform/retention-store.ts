// Age-based cleanup of append-only tables (events, console sessions) in bounded batches: each batch is one short
// statement in its own transaction, so a table of millions of expired rows is emptied without one long lock, and
// writers inserting meanwhile wait at most one batch. Batches pick rows through the table's created_at index.
import { sql, type SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";
import { rowsOf, type Db } from "./db.js";

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
  // Each batch starts its index scan where the last one ended: the index entries of rows already deleted stay until
  // vacuum, and scanning past them again from the oldest end would make the whole cleanup quadratic. The bound is
  // passed back as Postgres's own text (microseconds; a JS Date would round them off).
  let from: string | null = null;
  for (;;) {
    const started = performance.now();
    const after: SQL = from === null ? sql`` : sql` and ${t.createdAt} >= ${from}::timestamptz`;
    const [r] = await rowsOf<{ n: number; last: string | null }>(
      db,
      sql`with gone as (
            delete from ${t.table} where ${t.key} in (
              select ${t.key} from ${t.table}
              where ${t.createdAt} < ${at}${after}
              order by ${t.createdAt} limit ${batchSize})
            returning ${t.createdAt} as created)
          select count(*)::int as n, max(created)::text as last from gone`,
    );
    out.longestBatchMs = Math.max(out.longestBatchMs, performance.now() - started);
    out.batches++;
    out.deleted += r.n;
    if (r.n < batchSize) return out;
    from = r.last;
  }
}
