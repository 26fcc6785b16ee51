// The simulator's threads run a prebuilt bundle of agent/sim-worker.ts only while it is newer than every project file
// it was built from (listed in its first line); a stale or missing bundle is built again before the threads start,
// so they never run old code. Freshness is tested on a scratch tree; the rebuild on the real bundle.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { bundleFresh, workerBundle, workerEntry } from "../agent/sim-bundle.js";

const dir = mkdtempSync(path.join(tmpdir(), "fc-sim-bundle-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const inputs = ["agent/sim-worker.ts", "lib/logger.ts", "gen/meta_pb.ts"];
for (const f of inputs) {
  mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
  writeFileSync(path.join(dir, f), "export {};\n");
}
const bundle = path.join(dir, "bundle.mjs");
const header = `// flightctl simulator thread, built from: ${JSON.stringify(inputs)}\n`;
const at = (file: string, secondsAgo: number) => {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path.join(dir, file), t, t);
};

test("a bundle newer than every input it lists is fresh; an edit in any of them makes it stale", () => {
  writeFileSync(bundle, `${header}export {};\n`);
  for (const f of inputs) at(f, 60);
  at("bundle.mjs", 10);
  assert.equal(bundleFresh(bundle, dir), true);
  for (const edited of inputs) {
    at(edited, 0);
    assert.equal(bundleFresh(bundle, dir), false, `${edited} edited`);
    at(edited, 60);
  }
});

test("a bundle listing a file that is gone, or no inputs, or missing, is stale", () => {
  writeFileSync(bundle, `// flightctl simulator thread, built from: ${JSON.stringify([...inputs, "lib/gone.ts"])}\nexport {};\n`);
  assert.equal(bundleFresh(bundle, dir), false);
  writeFileSync(bundle, "export {};\n");
  assert.equal(bundleFresh(bundle, dir), false);
  rmSync(bundle);
  assert.equal(bundleFresh(bundle, dir), false);
});

test("the threads' entry is the bundle, built when missing and again when older than a source", async () => {
  // A scratch bundle (the real one, dist/agent/sim-worker.mjs, may be in use by another test's simulator).
  const scratch = path.join(dir, "dist/sim-worker.mjs");
  const fallbacks: Error[] = [];
  assert.deepEqual(await workerEntry((e) => fallbacks.push(e), scratch), { entry: scratch, eval: false });
  assert.equal(bundleFresh(scratch), true);
  // Older than its sources, as after an edit: built again, with the sources' code.
  utimesSync(scratch, new Date(0), new Date(0));
  assert.equal(bundleFresh(scratch), false);
  assert.deepEqual(await workerEntry((e) => fallbacks.push(e), scratch), { entry: scratch, eval: false });
  assert.equal(bundleFresh(scratch), true);
  assert.ok(statSync(scratch).mtimeMs > Date.now() - 60_000);
  const text = readFileSync(scratch, "utf8");
  assert.match(text.split("\n", 1)[0], /"agent\/sim-worker\.ts"/);
  // esbuild's keepNames is what this bundle is for leaving out: no __name wrapper around the agents' functions.
  assert.doesNotMatch(text, /__name\(/);
  assert.deepEqual(fallbacks, []);
  assert.equal(path.relative(process.cwd(), workerBundle), path.join("dist", "agent", "sim-worker.mjs"));
});
