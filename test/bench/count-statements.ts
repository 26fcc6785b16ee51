// Bench-only preload (`--import ./test/bench/count-statements.ts`, BENCH_STATEMENTS_FILE=<file>): counts the statements
// this process sends to Postgres and writes the count to <file> every 100 ms (when it changed). The shared Postgres has no
// pg_stat_statements (not preloaded, and benches may not restart it), so the clients count: every pool, drizzle and
// graphile-worker query goes through pg.Client#query.
import { writeFileSync } from "node:fs";
import pg from "pg";

const file = process.env.BENCH_STATEMENTS_FILE;
if (file) {
  let count = 0;
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    count++;
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  // Only when it changed: an idle API would otherwise write the file 10 times a second, which the benches' idle CPU
  // of the API then counted (≈ 0.3–0.4 % of a core, a tenth of the issue-23 idle target).
  let written = -1;
  setInterval(() => {
    if (count === written) return;
    written = count;
    writeFileSync(file, String(count));
  }, 100).unref();
}
