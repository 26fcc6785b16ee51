// `npm run fuzz -- --seconds N --seed S [--path P | --cases N] [--timeout-ms T] [--report file.json] [--verbose]`:
// the fuzz suite for a longer run or a replay. Runs test/fuzz/fuzz.test.ts through test/run.ts (which brings
// Postgres and the template database), passing the options as FC_FUZZ_* variables. A failing case is printed with
// its replay command (the same seed and its path).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    seed: { type: "string", default: String(Date.now() % 1_000_000) },
    path: { type: "string" },
    cases: { type: "string" },
    "timeout-ms": { type: "string", default: "10000" },
    report: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
});
const seconds = Number(values.seconds);
if (!(seconds > 0) || !Number.isInteger(Number(values.seed))) {
  process.stderr.write(
    "usage: npm run fuzz -- --seconds N --seed S [--path P | --cases N] [--timeout-ms T] [--report file.json] [--verbose]\n",
  );
  process.exit(2);
}
process.stderr.write(
  `fuzz: seed ${values.seed}, ${values.path ? `replaying path ${values.path}` : values.cases ? `the first ${values.cases} cases` : `${seconds} s`}\n`,
);
const root = fileURLToPath(new URL("../..", import.meta.url));
const child = spawn(process.execPath, ["--import", "tsx", "test/run.ts", "test/fuzz/fuzz.test.ts"], {
  cwd: root,
  stdio: "inherit",
  env: {
    ...process.env,
    FC_FUZZ_SECONDS: String(seconds),
    FC_FUZZ_SEED: values.seed,
    FC_FUZZ_PATH: values.path ?? "",
    FC_FUZZ_CASES: values.cases ?? "",
    FC_FUZZ_TIMEOUT_MS: values["timeout-ms"],
    FC_FUZZ_REPORT: values.report ?? "",
    FC_FUZZ_VERBOSE: values.verbose ? "1" : "",
    // test/run.ts stops a run after this many minutes.
    FC_TEST_RUN_MINUTES: String(Math.ceil((values.cases ? Number(values.cases) * 2 : seconds) / 60) + 15),
  },
});
const forward = (sig: NodeJS.Signals) => child.kill(sig);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
child.on("exit", (code, sig) => process.exit(code ?? (sig ? 1 : 0)));
