// `npm run check:imports`: dependency-cruiser with the rules of .dependency-cruiser.cjs over server/, agent/, cli/ and
// lib/. Through its API because its command line refuses Node 20 (it asks for >= 22) while the API runs fine on it.
// Violations listed in .dependency-cruiser-known-violations.json (if present; `--baseline` rewrites it) are the
// accepted ones still to fix; any other violation fails (`--no-ignore-known` shows them all). Exit code: the number
// of violations not accepted.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cruise } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";

const ROOTS = ["server", "agent", "cli", "lib"];
const KNOWN = ".dependency-cruiser-known-violations.json";

process.chdir(new URL("..", import.meta.url).pathname);
const baseline = process.argv.includes("--baseline");
const options = await extractDepcruiseOptions("./.dependency-cruiser.cjs");
const ignoreKnown = !baseline && !process.argv.includes("--no-ignore-known");
const known = ignoreKnown && existsSync(KNOWN) ? { knownViolations: JSON.parse(readFileSync(KNOWN, "utf8")) } : {};
const result = await cruise(ROOTS, { ...options, validate: true, outputType: baseline ? "baseline" : "err", ...known }, undefined, {
  tsConfig: extractTSConfig(options.tsConfig.fileName),
});
if (baseline) {
  writeFileSync(KNOWN, result.output);
  console.log(`wrote ${KNOWN}`);
} else {
  process.stdout.write(result.output);
  process.exitCode = result.exitCode;
}
