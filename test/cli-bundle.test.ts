// bin/flightctl.js runs the prebuilt bundle only while every project file it was built from (dist/cli/flightctl.inputs,
// written by cli/build.mjs: cli/, lib/, gen/) is older than it; an edit anywhere among them runs the sources instead.
// Tested on a scratch tree holding a copy of bin/flightctl.js, a bundle and sources that say which one ran.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), "fc-cli-bundle-"));
after(() => rmSync(dir, { recursive: true, force: true }));

for (const d of ["bin", "dist/cli", "cli", "lib", "gen"]) mkdirSync(path.join(dir, d), { recursive: true });
copyFileSync(path.join(ROOT, "bin/flightctl.js"), path.join(dir, "bin/flightctl.js"));
writeFileSync(path.join(dir, "package.json"), `{"type":"module"}\n`);
symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
const bundle = path.join(dir, "dist/cli/flightctl.cjs");
writeFileSync(bundle, `exports.run = async () => console.log("bundle");\n`);
writeFileSync(path.join(dir, "cli/main.ts"), `export async function run(): Promise<void> {\n  console.log("sources");\n}\n`);
const inputs = ["cli/main.ts", "lib/codec.ts", "gen/meta_pb.ts"];
for (const f of inputs.slice(1)) writeFileSync(path.join(dir, f), "export {};\n");
writeFileSync(path.join(dir, "dist/cli/flightctl.inputs"), `${inputs.join("\n")}\n`);

const at = (file: string, secondsAgo: number) => {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path.join(dir, file), t, t);
};
const ran = () =>
  execFileSync(process.execPath, [path.join(dir, "bin/flightctl.js")], {
    encoding: "utf8",
    env: { ...process.env, FLIGHTCTL_CLI_FROM_SOURCE: "" },
  }).trim();

test("the bundle runs while it is newer than every input", () => {
  for (const f of inputs) at(f, 60);
  at("dist/cli/flightctl.cjs", 10);
  assert.equal(ran(), "bundle");
});

for (const edited of inputs) {
  test(`an edit in ${edited.split("/")[0]}/ runs the sources`, () => {
    for (const f of inputs) at(f, 60);
    at("dist/cli/flightctl.cjs", 10);
    at(edited, 0);
    assert.equal(ran(), "sources");
  });
}

test("a missing input list or a deleted input runs the sources", () => {
  for (const f of inputs) at(f, 60);
  at("dist/cli/flightctl.cjs", 10);
  writeFileSync(path.join(dir, "dist/cli/flightctl.inputs"), `${inputs.join("\n")}\nlib/gone.ts\n`);
  assert.equal(ran(), "sources");
  rmSync(path.join(dir, "dist/cli/flightctl.inputs"));
  assert.equal(ran(), "sources");
});
