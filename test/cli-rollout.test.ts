// `flightctl rollout plan` and `rollout status` against a real service with one connected device: a 10 % batch of
// one device selects none and is left out of the plan's table, and the status ends on the true final frame (every
// batch complete), not on the last batch still shown as dispatched.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, waitFor } from "./helpers/agents.js";
import { buildCli, runCli } from "./helpers/cli.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";

let t: TestApi;
let dir: string;
let cfgDir: string;
let sim: Awaited<ReturnType<typeof startSimulator>>;
const ok = async (args: string[], opts?: Parameters<typeof runCli>[2]) => {
  const r = await runCli(cfgDir, args, opts);
  assert.equal(r.code, 0, `flightctl ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
};

const fleet = (image: string) =>
  [
    "apiVersion: v1beta1\nkind: Fleet\nmetadata:\n  name: one\nspec:\n  selector:\n    matchLabels:\n      fleet: one\n",
    `  template:\n    spec:\n      os:\n        image: ${image}\n`,
    "  rolloutPolicy:\n    deviceSelection:\n      strategy: BatchSequence\n      sequence:\n        - limit: 10%\n",
  ].join("");

before(async () => {
  buildCli();
  t = await startTestApi({ worker: true, heartbeatMs: 1000, rolloutTickSeconds: 1 });
  const admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-cli-rollout-"));
  cfgDir = join(dir, "config");
  await ok(["login", `https://localhost:${t.api.port}`, "--certificate-authority", t.api.caPath, "--token", admin]);
  await ok(["apply", "-f", "-"], { input: fleet("quay.io/example/os:1") });
  sim = await startSimulator({
    count: 1,
    config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
    baseDir: join(dir, "agents"),
    labels: { fleet: "one" },
    approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: admin },
    summaryIntervalMs: 0,
    log: pino({ level: "silent" }),
  });
  await sim.started();
  const name = sim.agents[0].name;
  // A label change makes the device join the fleet whatever path enrollment took.
  await ok(["patch", `device/${name}`, "-p", '[{"op":"add","path":"/metadata/labels/rack","value":"r1"}]']);
  await waitFor(
    "the device owned by the fleet, online and up to date",
    async () => {
      const d = JSON.parse(await ok(["get", `device/${name}`, "-o", "json"]));
      return d.metadata.owner === "Fleet/one" && d.status?.summary?.status === "Online" && d.status?.updated?.status === "UpToDate";
    },
    60_000,
  );
});

after(async () => {
  await sim?.stop();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("rollout plan: the 10 % batch of one device is left out of the table and named", async () => {
  const out = await waitFor(
    "a settled plan",
    async () => {
      const o = await ok(["rollout", "plan", "fleet/one"]);
      return !/still being selected/.test(o) && o;
    },
    30_000,
  );
  const rows = out.split("\n").filter((l) => /^\d+\s/.test(l));
  assert.ok(rows.length > 0, out);
  for (const r of rows) assert.doesNotMatch(r, /^\d+\s+.*\s0(\s|$)/, `an empty batch in:\n${out}`);
  assert.match(out, /batch 1 of the policy select no device/);
});

test("rollout status ends with every batch complete", async () => {
  await ok(["apply", "-f", "-"], { input: fleet("quay.io/example/os:2") });
  const out = await ok(["rollout", "status", "fleet/one", "--interval", "0.5", "--timeout", "90s"], { timeoutMs: 120_000 });
  assert.match(out, /rollout of \S+ complete\n$/);
  // Through a pipe every frame is printed in turn: the last one is the final state.
  const frames = out.split(/^(?=fleet\/one: template version)/m).filter((f) => f.startsWith("fleet/one: template version"));
  const last = frames.at(-1) ?? "";
  assert.doesNotMatch(last, /dispatched|pending/, out);
  assert.match(last, / complete$/m, out);
});
