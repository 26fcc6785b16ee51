// What Postgres spends on a bench phase, apart from the kernel's share of the machine: CPU of the backends connected
// to the bench's database (pg_stat_activity gives their pids; /proc/<pid>/stat their utime + stime, so the bench must
// run on the Postgres host, as root or as postgres), CPU of the shared background processes (background writer, WAL
// writer, checkpointer: they serve every database of the server, so other benches' work lands there too), the WAL
// written (pg_current_wal_lsn, server-wide) and the statements the server processes sent (count-statements.ts).
import type pg from "pg";
import { cpuMs } from "./server-process.js";
import { readStatementCounts } from "./count-statements.js";

const cpuOf = (pid: number): number | undefined => {
  try {
    return cpuMs(pid);
  } catch {
    return undefined; // ended, or not on this machine
  }
};

const BACKGROUND = ["background writer", "checkpointer", "walwriter"];

/** application_name of the bench's own connections (its polling is not the product's work). */
export const BENCH_APPLICATION = "fleet-scale-bench";

/**
 * Starts a window; `end(devices)` returns the figures per device. Backends that start during the window count from
 * zero; those that end during it lose what they used after its start (the pools' connections live through a phase).
 */
export async function pgMeter(admin: pg.Pool, database: string, counters: readonly { pid: number; file: string }[]) {
  const snapshot = async () => {
    const rows = (
      await admin.query<{ pid: number; bench: boolean }>(
        `select pid, datname = $1 as bench from pg_stat_activity
          where (datname = $1 and application_name <> $3) or backend_type = any($2::text[])`,
        [database, BACKGROUND, BENCH_APPLICATION],
      )
    ).rows;
    const wal = (await admin.query<{ lsn: string }>(`select pg_current_wal_lsn()::text lsn`)).rows[0].lsn;
    const cpu = new Map(rows.map((r) => [r.pid, { bench: r.bench, ms: cpuOf(r.pid) }]));
    return { cpu, wal, statements: await readStatementCounts(counters) };
  };
  const start = await snapshot();
  return {
    async end(devices: number) {
      const end = await snapshot();
      let backends = 0;
      let background = 0;
      for (const [pid, e] of end.cpu) {
        const used = (e.ms ?? 0) - (start.cpu.get(pid)?.ms ?? 0);
        if (e.bench) backends += used;
        else background += used;
      }
      const walBytes = Number(
        (await admin.query<{ b: string }>(`select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text b`, [end.wal, start.wal])).rows[0].b,
      );
      return {
        backendsMs: backends / devices,
        backgroundMs: background / devices,
        walBytes: walBytes / devices,
        statements: (end.statements - start.statements) / devices,
      };
    },
  };
}
