// Bench-only preload (`--import ./test/bench/count-statements.ts`, BENCH_STATEMENTS_FILE=<file>): counts the statements
// this process sends to Postgres and writes `<count> <answers>` to <file> when asked (SIGWINCH; readStatementCounts
// below) and at exit — not on a timer: rewriting the file 10 times a second during a connection storm cost the API
// ≈ 0.05 ms of CPU per agent, charged to the figures it helps measure. The shared Postgres has no
// pg_stat_statements (not preloaded, and benches may not restart it), so the clients count: every pool, drizzle and
// graphile-worker query goes through pg.Client#query. BENCH_STATEMENTS_TEXT=<dir>: also the count per statement (its
// first 100 characters) as JSON in <dir>/<file's name>.json, written at the same times.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import pg from "pg";

const SIGNAL = "SIGWINCH";
const file = process.env.BENCH_STATEMENTS_FILE;
if (file) {
  let count = 0;
  let answers = 0;
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
  const write = () => {
    // Written aside and renamed: a reader must never see the file empty mid-write.
    writeFileSync(`${file}.tmp`, `${count} ${answers}`);
    renameSync(`${file}.tmp`, file);
    if (byText)
      writeFileSync(
        join(process.env.BENCH_STATEMENTS_TEXT!, `${basename(file)}.json`),
        JSON.stringify(Object.fromEntries([...byText].sort((a, b) => b[1] - a[1])), null, 1),
      );
  };
  write();
  process.on(SIGNAL, () => {
    answers++;
    write();
  });
  process.on("exit", write);
}

const parse = (f: string) => {
  try {
    const [count, answers] = readFileSync(f, "utf8").split(" ").map(Number);
    return { count: count || 0, answers: answers || 0 };
  } catch {
    return { count: 0, answers: -1 }; // not written yet
  }
};

/** Asks each counting process for its count now and sums the answers (waits up to 5 s for them). */
export async function readStatementCounts(counters: readonly { pid: number; file: string }[]): Promise<number> {
  const before = counters.map((c) => parse(c.file).answers);
  for (const c of counters) {
    try {
      process.kill(c.pid, SIGNAL);
    } catch {
      // ended: its last count (written at exit) stands
    }
  }
  const deadline = Date.now() + 5000;
  let now = counters.map((c) => parse(c.file));
  while (now.some((x, i) => x.answers <= before[i]) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    now = counters.map((c) => parse(c.file));
  }
  return now.reduce((a, x) => a + x.count, 0);
}
