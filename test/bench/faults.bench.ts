// npm run bench:faults — the fault suite's environment (test/faults/env.ts: own Postgres and Redis, API, worker,
// periodic and 100 simulated agents as separate processes, writers, watchers, a rollout per fault) and its faults in
// turn. Per fault: the writers' acknowledged requests/s and p99 latency before (8 s before injection), during (from
// injection until 5 s after the cause is gone) and after (the rest), seconds until the writers' calls succeed again
// and until every agent is back on its stream running the rollout's template (both from the moment the cause is
// gone), failed calls by code, and lost acknowledged writes. The same-run baseline is each fault's own "before":
// after/before ratios. BENCH_AGENTS (100), BENCH_WRITERS (4), BENCH_FAULTS=a-fast,e-kill-api (default all),
// FC_FAULTS_DOWN_SECONDS (30).
import { Code } from "@connectrpc/connect";
import { agentsConverged, connectionLost, quiescedChecks, RECOVERY_GRACE_MS, unaskedExits } from "../faults/checks.js";
import { startFaultEnv } from "../faults/env.js";
import { FAULTS, runFault, type FaultRun } from "../faults/faults.js";
import type { Call } from "../faults/load.js";

const AGENTS = Number(process.env.BENCH_AGENTS ?? 100);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 4);
const ONLY = process.env.BENCH_FAULTS?.split(",").filter(Boolean);
const BEFORE_MS = 8000;

interface Window {
  rps: number;
  p99: number;
  failed: number;
}

function window(calls: Call[], from: number, to: number): Window {
  const inside = calls.filter((c) => c.end >= from && c.end < to);
  const ok = inside.filter((c) => c.code === undefined);
  const lat = ok.map((c) => c.end - c.start).sort((a, b) => a - b);
  return {
    rps: ok.length / Math.max(0.001, (to - from) / 1000),
    p99: lat.length ? lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] : NaN,
    failed: inside.length - ok.length,
  };
}

const fmt = (w: Window) =>
  `${w.rps.toFixed(0)} /s, p99 ${Number.isNaN(w.p99) ? "–" : `${w.p99} ms`}${w.failed ? `, ${w.failed} failed` : ""}`;

async function main() {
  const env = await startFaultEnv({ agents: AGENTS, writers: WRITERS, verbose: process.env.FC_FAULTS_VERBOSE === "1" });
  const rows: string[] = [];
  try {
    for (const fault of FAULTS.filter((f) => !ONLY || ONLY.includes(f.id))) {
      const run: FaultRun = await runFault(env, fault, { preMs: BEFORE_MS + 2000, postMs: RECOVERY_GRACE_MS + 10_000 });
      const converged = await agentsConverged(env, run, 120_000);
      const { lost } = await quiescedChecks(env, run, 15_000);
      const calls = env.writers.calls.filter((c) => c.start >= run.start);
      const before = window(calls, run.injected - BEFORE_MS, run.injected);
      const during = window(calls, run.injected, run.recovered + RECOVERY_GRACE_MS);
      const after = window(calls, run.recovered + RECOVERY_GRACE_MS, run.end);
      const failed = calls.filter((c) => c.code !== undefined);
      const lastFailure = failed.at(-1);
      // Failures still happening at the end of the run: not recovered within it.
      const writersBack =
        lastFailure && lastFailure.end > run.end - 2000
          ? "not within the run"
          : `${Math.max(0, ((lastFailure?.end ?? run.recovered) - run.recovered) / 1000).toFixed(1)} s`;
      const codes = new Map<string, number>();
      for (const c of failed) {
        const k = connectionLost(c) ? "connection lost" : Code[c.code!];
        codes.set(k, (codes.get(k) ?? 0) + 1);
      }
      const exits = unaskedExits(env, run);
      const row = `| ${fault.title} | ${((run.recovered - run.injected) / 1000).toFixed(1)} s | ${fmt(before)} | ${fmt(during)} | ${fmt(after)} | ${(after.rps / before.rps).toFixed(2)} / ${(after.p99 / before.p99).toFixed(2)} | ${writersBack} | ${Number.isNaN(converged.seconds) ? converged.problems.join("; ") : `${converged.seconds.toFixed(1)} s`} | ${[...codes].map(([k, n]) => `${k} ${n}`).join(", ") || "none"} | ${lost.length} | ${exits.length ? exits.map((e) => e.split(":")[0]).join("; ") : "none"} |`;
      console.log(`${fault.id} done`);
      for (const e of exits) console.log(`  ${e.slice(0, 400)}`);
      rows.push(row);
    }
  } finally {
    await env.close();
  }
  console.log(
    `\n${AGENTS} simulated agents streaming, ${WRITERS} writers (create/patch devices and fleets, one call at a time each), a batched fleet rollout started before each fault; API, worker, periodic and simulator as separate processes on one 2-core machine\n`,
  );
  console.log(
    "| fault | fault lasted | writers before | during (to 5 s after) | after | after/before (req/s / p99) | writers all succeed again after | agents on stream + rollout done after | failed calls | lost acked writes | processes exited unasked |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
}

await main();
