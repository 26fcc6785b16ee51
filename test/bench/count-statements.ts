// Bench-only preload (`--import ./test/bench/count-statements.ts`, BENCH_STATEMENTS_FILE=<file>): counts the statements
// this process sends to Postgres and writes the count to <file> every 100 ms when it changed (written unchanged, the
// file cost the API ≈ 1 s of CPU in a 40 s run: charged to the figures it helps measure). The shared Postgres has no
// pg_stat_statements (not preloaded, and benches may not restart it), so the clients count: every pool, drizzle and
// graphile-worker query goes through pg.Client#query. BENCH_STATEMENTS_TEXT=<dir>: also the count per statement (its
// first 100 characters) as JSON in <dir>/<file's name>.json, every second.
import { renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import pg from "pg";

const file = process.env.BENCH_STATEMENTS_FILE;
if (file) {
  let count = 0;
  let written = -1;
  const byText = process.env.BENCH_STATEMENTS_TEXT ? new Map<string, number>() : undefined;
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    count++;
    if (byText) {
      const q = args[0];
      const text = String(typeof q === "string" ? q : ((q as { text?: string })?.text ?? "?"))
        .replace(/\s+/g, " ")
        .slice(0, 100);
      byText.set(text, (byText.get(text) ?? 0) + 1);
    }
    return query.apply(this, args);
  } as typeof pg.Client.prototype.query;
  setInterval(() => {
    if (count === written) return;
    // Written aside and renamed: a reader must never see the file empty mid-write (read as 0, a window's count went
    // negative).
    writeFileSync(`${file}.tmp`, String(count));
    renameSync(`${file}.tmp`, file);
    written = count;
  }, 100).unref();
  if (byText)
    setInterval(
      () =>
        writeFileSync(
          join(process.env.BENCH_STATEMENTS_TEXT!, `${basename(file)}.json`),
          JSON.stringify(Object.fromEntries([...byText].sort((a, b) => b[1] - a[1])), null, 1),
        ),
      1000,
    ).unref();
}
