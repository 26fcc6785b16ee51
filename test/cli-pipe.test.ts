// The CLI in scripts and pipes: help without colour codes and wrapped at 80 columns (NO_COLOR too), `describe` as
// kubectl's (conditions, owner, versions, recent events), the last-seen filters and sort, and a console the service
// refuses (FailedPrecondition: the device is not connected) failing at once with the service's message.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { buildCli, runCli } from "./helpers/cli.js";
import { sortItems, withLastSeen } from "../cli/last-seen.js";

let dir: string;
const VERBS = ["get", "describe", "apply", "edit", "patch", "delete", "approve", "deny", "decommission", "resume", "app"]
  .concat(["certificate", "enrollmentconfig", "rollout", "completion", "console", "login", "logout", "config", "version"])
  .map((v) => [v])
  .concat([[], ["rollout", "status"], ["rollout", "plan"], ["certificate", "request"]]);

before(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), "fc-cli-pipe-"));
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

describe("help through a pipe", () => {
  for (const env of [{}, { NO_COLOR: "1", FORCE_COLOR: "1" }] as Record<string, string>[]) {
    test(`no colour codes, no line over 80 characters${Object.keys(env).length ? " (NO_COLOR)" : ""}`, async () => {
      for (const args of VERBS) {
        const r = await runCli(join(dir, "none"), [...args, "--help"], { env });
        assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
        const out = r.stdout + r.stderr;
        assert.ok(!out.includes("\x1b"), `flightctl ${args.join(" ")} --help has colour codes`);
        const long = out.split("\n").filter((l) => l.length > 80);
        assert.deepEqual(long, [], `flightctl ${args.join(" ")} --help`);
        assert.match(out, /Usage: flightctl/);
      }
    });
  }

  test("COLUMNS widens it, up to 100", async () => {
    const r = await runCli(join(dir, "none"), ["get", "--help"], { env: { COLUMNS: "300" } });
    const widest = Math.max(...r.stdout.split("\n").map((l) => l.length));
    assert.ok(widest > 80 && widest <= 100, `widest line ${widest}`);
  });

  test("a citty argument error carries no colour codes", async () => {
    const r = await runCli(join(dir, "none"), ["rollout", "nope"]);
    assert.equal(r.code, 1);
    assert.ok(!r.stderr.includes("\x1b"), r.stderr);
  });
});

describe("against a service", () => {
  let t: TestApi;
  let cfgDir: string;
  const ok = async (args: string[], opts?: Parameters<typeof runCli>[2]) => {
    const r = await runCli(cfgDir, args, opts);
    assert.equal(r.code, 0, `flightctl ${args.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    t = await startTestApi();
    const admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
    cfgDir = join(dir, "config");
    await ok(["login", `https://localhost:${t.api.port}`, "--certificate-authority", t.api.caPath, "--token", admin]);
    await ok(["apply", "-f", "-"], {
      input: [
        "apiVersion: v1beta1\nkind: Fleet\nmetadata:\n  name: lab\nspec:\n  selector:\n    matchLabels:\n      site: lab\n",
        "  template:\n    spec:\n      os:\n        image: quay.io/example/os:1\n",
        "---\napiVersion: v1beta1\nkind: Device\nmetadata:\n  name: box-1\n  labels:\n    site: lab\n    alias: first\n",
      ].join(""),
    });
  });
  after(async () => {
    await t.close();
  });

  test("describe device: facts, conditions, owner and its events", async () => {
    const out = await ok(["describe", "device/box-1"]);
    assert.match(out, /^Name:\s+box-1$/m);
    assert.match(out, /^Kind:\s+Device$/m);
    assert.match(out, /^Labels:\s+(alias=first|site=lab)$/m);
    assert.match(out, /^Owner:\s+\S+/m);
    assert.match(out, /^Last Seen:\s+<never>$/m);
    assert.match(out, /^Rendered Version:/m);
    assert.match(out, /^Conditions:$/m);
    assert.match(out, /^Events:\n\s+AGE\s+TYPE\s+REASON\s+MESSAGE\n.*ResourceCreated/m);
    assert.ok(!out.includes("\x1b"));
  });

  test("console to a device that never connected fails at once with the service's reason", async () => {
    const t0 = Date.now();
    const r = await runCli(cfgDir, ["console", "device/box-1", "--", "true"], { timeoutMs: 15_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^Error: device\/box-1: cannot open a console: .*never connected/);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  });

  test("describe fleet: selector and device count; an unknown name fails naming it", async () => {
    const out = await ok(["describe", "fleet/lab"]);
    assert.match(out, /^Selector:\s+site=lab$/m);
    assert.match(out, /^Devices:\s+\d+$/m);
    const r = await runCli(cfgDir, ["describe", "device/nope"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /device\/nope: not found/);
  });

  test("enrollmentconfig --file writes the enrollment key readable only by its owner, even over an existing file", async () => {
    const file = join(dir, "agent.yaml");
    writeFileSync(file, "old\n", { mode: 0o644 });
    chmodSync(file, 0o644);
    await ok(["enrollmentconfig", "--file", file]);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, "utf8"), /client-key-data: /);
    assert.equal(statSync(join(cfgDir, "client.yaml")).mode & 0o777, 0o600, "the token file too");
  });

  test("get devices with the last-seen filters and sort", async () => {
    // Never seen: in no last-seen window, first when sorted by lastSeen.
    assert.doesNotMatch(await ok(["get", "devices", "--last-seen-within", "1h"]), /box-1/);
    assert.doesNotMatch(await ok(["get", "devices", "--last-seen-before", "1m"]), /box-1/);
    assert.match(await ok(["get", "devices", "--sort-by", "lastSeen"]), /LAST SEEN\nbox-1 .* <never>$/m);
    const r = await runCli(cfgDir, ["get", "devices", "--last-seen-before", "ten minutes"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--last-seen-before "ten minutes": use a duration such as 90s, 10m/);
  });
});

test("the last-seen selectors and the sort", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  assert.equal(withLastSeen(undefined, { before: "10m" }, now), "lastSeen<2026-01-01T11:50:00.000Z");
  assert.equal(
    withLastSeen("status.summary.status=Online", { within: "2h" }, now),
    "status.summary.status=Online,lastSeen>=2026-01-01T10:00:00.000Z",
  );
  const d = (name: string, lastSeen?: string): JsonObject => ({ metadata: { name }, status: lastSeen ? { lastSeen } : {} });
  const sorted = sortItems([d("b", "2026-01-01T11:00:00Z"), d("a", "2026-01-01T10:00:00Z"), d("c")], "lastSeen");
  assert.deepEqual(
    sorted.map((o) => (o.metadata as { name: string }).name),
    ["c", "a", "b"],
  );
});
