// npm run bench:event-cleanup — event retention on a big table: N expired events (default 1,000,000) plus N/10 fresh
// ones, cleaned by the event_cleanup job's batched delete (the event store's deleteOlderThan, BENCH_BATCH rows per
// statement, default 5,000). Prints rows/s, the longest single statement (the longest any row lock is held) and, from
// a concurrent writer, the worst latency of (a) inserting a new event and (b) updating a not-yet-deleted expired event
// (a writer touching rows the cleanup is deleting waits for the statement that locked them). Baseline, same run: an
// identical table (same rows, same indexes) cleaned with one plain `DELETE … WHERE created_at < cutoff`, with the same
// concurrent writer.
import { performance } from "node:perf_hooks";
import pg from "pg";
import { migrate } from "../../db/migrate.js";
import { createDb } from "../../server/platform/db.js";
import { createEventStore } from "../../server/platform/event-store.js";
import { benchDatabase } from "./server-process.js";

const N = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 5000);
const ORG = "00000000-0000-0000-0000-000000000000";
const DAY = 86_400_000;

/** Fills `table` with N events 8–38 days old and N/10 from the last 6 days. */
async function fill(pool: pg.Pool, table: string) {
  const insert = (n: number, ageSql: string) =>
    pool.query(
      `insert into ${table} (org_id, created_at, reason, type, involved_kind, involved_name, actor, message, source_component)
       select $1, now() - ${ageSql}, 'DeviceUpdated', 'Normal', 'Device', 'dev-' || (i % 10000), 'user:bench',
              'device updated to the template version of round ' || i, 'flightctl-worker'
       from generate_series(1, $2) i`,
      [ORG, n],
    );
  // In chunks: one 1M-row insert would hold the machine's memory and WAL longer than needed.
  for (let done = 0; done < N; done += 200_000)
    await insert(Math.min(200_000, N - done), "interval '8 days' - (i % 2592000) * interval '1 second'");
  await insert(Math.floor(N / 10), "(i % 518400) * interval '1 second'");
  await pool.query(`vacuum analyze ${table}`);
}

/** Runs `work` while a writer inserts a fresh event and updates a random expired one, back to back; worst latencies. */
async function withWriter(pool: pg.Pool, table: string, work: () => Promise<{ statements: number; longestMs: number }>) {
  const { rows } = await pool.query<{ lo: string; hi: string }>(
    `select min(seq)::text as lo, max(seq)::text as hi from ${table} where created_at < now() - interval '7 days'`,
  );
  const lo = Number(rows[0].lo);
  const hi = Number(rows[0].hi);
  let stop = false;
  const worst = { insertMs: 0, updateMs: 0, writes: 0 };
  const writer = (async () => {
    while (!stop) {
      let t = performance.now();
      await pool.query(
        `insert into ${table} (org_id, reason, type, involved_kind, involved_name, actor, message, source_component)
         values ($1, 'DeviceUpdated', 'Normal', 'Device', 'dev-x', 'user:bench', 'concurrent', 'flightctl-api')`,
        [ORG],
      );
      worst.insertMs = Math.max(worst.insertMs, performance.now() - t);
      t = performance.now();
      await pool.query(`update ${table} set message = 'touched' where seq = $1`, [lo + Math.floor(Math.random() * (hi - lo))]);
      worst.updateMs = Math.max(worst.updateMs, performance.now() - t);
      worst.writes++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const t0 = performance.now();
  try {
    const r = await work();
    return { ...r, ms: performance.now() - t0, worst };
  } finally {
    stop = true;
    await writer;
  }
}

async function main() {
  const dbh = await benchDatabase();
  const pool = new pg.Pool({ connectionString: dbh.url, max: 6 });
  pool.on("error", () => {});
  try {
    await migrate(dbh.url);
    await pool.query("create table events_baseline (like events including all)");
    let t = performance.now();
    await fill(pool, "events");
    await fill(pool, "events_baseline");
    console.log(`setup: ${N} expired + ${N / 10} fresh events in each of two tables, ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const cutoff = () => new Date(Date.now() - 7 * DAY);

    const store = createEventStore(createDb(pool));
    const batched = await withWriter(pool, "events", async () => {
      const r = await store.deleteOlderThan(cutoff(), BATCH);
      if (r.deleted < N) throw new Error(`batched cleanup deleted ${r.deleted}, expected at least ${N}`);
      return { statements: r.batches, longestMs: r.longestBatchMs, deleted: r.deleted };
    });
    const plain = await withWriter(pool, "events_baseline", async () => {
      t = performance.now();
      const r = await pool.query("delete from events_baseline where created_at < $1", [cutoff().toISOString()]);
      if ((r.rowCount ?? 0) < N) throw new Error(`plain delete deleted ${r.rowCount}, expected at least ${N}`);
      return { statements: 1, longestMs: performance.now() - t, deleted: r.rowCount ?? 0 };
    });
    const left = await pool.query<{ a: number; b: number }>(
      "select (select count(*) from events)::int as a, (select count(*) from events_baseline)::int as b",
    );
    const rate = (x: { ms: number }) => Math.round(N / (x.ms / 1000));
    const row = (name: string, x: typeof batched) =>
      `| ${name} | ${x.statements} | ${(x.ms / 1000).toFixed(1)} | ${rate(x).toLocaleString("en")} | ${x.longestMs.toFixed(0)} | ${x.worst.insertMs.toFixed(0)} | ${x.worst.updateMs.toFixed(0)} | ${x.worst.writes} |`;
    console.log(
      `\nevents: ${N.toLocaleString("en")} expired; batch ${BATCH}; rows left: batched table ${left.rows[0].a}, baseline table ${left.rows[0].b}\n`,
    );
    console.log(
      "| cleanup | statements | s | rows/s | longest statement (lock held) ms | writer: worst insert ms | writer: worst update of an expired row ms | writer rounds |",
    );
    console.log("|---|---|---|---|---|---|---|---|");
    console.log(row(`batched (event_cleanup, ${BATCH}/statement)`, batched));
    console.log(row("baseline: one plain DELETE", plain));
    console.log(
      `\nratios (batched / baseline): time ${(batched.ms / plain.ms).toFixed(2)}, longest lock ${(batched.longestMs / plain.longestMs).toFixed(4)}, worst update wait ${(batched.worst.updateMs / plain.worst.updateMs).toFixed(3)}`,
    );
  } finally {
    await pool.end();
    await dbh.cleanup();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
