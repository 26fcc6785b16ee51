// The descriptor-driven fuzz suite (issue 24): every method of every service on both endpoints, messages generated
// from the input descriptors plus raw bodies, over Connect, gRPC and gRPC-Web. Fails on any Internal/Unknown, 5xx,
// missing answer, crash, unhealthy server, half-written data or unservable list. In `npm test` it runs with a fixed
// seed for FC_FUZZ_SECONDS (default 25); `npm run fuzz -- --seconds N --seed S` runs longer (test/fuzz/run.ts).
import { assertNoOpenHandles } from "../helpers/leaks.js";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { after, test } from "node:test";
import { startFuzzEnv, type FuzzEnv } from "./env.js";
import { formatReport, runFuzz } from "./harness.js";

const seconds = Number(process.env.FC_FUZZ_SECONDS ?? 25);
const seed = Number(process.env.FC_FUZZ_SEED ?? 24);
const path = process.env.FC_FUZZ_PATH || undefined;
const cases = Number(process.env.FC_FUZZ_CASES) || undefined;

let env: FuzzEnv | undefined;
after(async () => {
  await env?.close();
  await assertNoOpenHandles();
});

test(`fuzz every RPC from its descriptor (seed ${seed}, ${path ? `path ${path}` : `${cases ? `${cases} cases` : `${seconds} s`}`})`, {
  timeout: ((cases ? cases * 2 : seconds) + 180) * 1000,
}, async () => {
  const t0 = performance.now();
  env = await startFuzzEnv();
  process.stderr.write(`fuzz: server up, ${env.targets.length} methods discovered in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  const report = await runFuzz(env, {
    seconds,
    seed,
    path,
    cases,
    timeoutMs: Number(process.env.FC_FUZZ_TIMEOUT_MS ?? 10_000),
    verbose: process.env.FC_FUZZ_VERBOSE === "1",
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const lines = formatReport(
    report,
    (f) => `npm run fuzz -- --seed ${seed} --path ${f.index}   (with the cases before it: --seed ${seed} --cases ${f.index + 1})`,
  );
  process.stderr.write(`${lines.join("\n")}\n`);
  if (process.env.FC_FUZZ_REPORT) writeFileSync(process.env.FC_FUZZ_REPORT, JSON.stringify(report, null, 2));
  assert.equal(report.health, undefined, `the server is unhealthy after the run: ${report.health}`);
  assert.deepEqual(report.dbProblems, [], "half-written or undecodable data in the database");
  assert.deepEqual(report.sweep, [], "List RPCs fail after the run");
  assert.equal(report.failures.length, 0, `fuzz failures (see the classes above):\n${lines.join("\n")}`);
  if (!path) assert.ok(report.cases > 0, "no case ran");
});
