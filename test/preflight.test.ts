// `npm test` on a machine lacking a system package stops in its first second with one line naming the packages and
// the install command; the list is one file shared with .ci/run and the README's install line.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { missingPackages, readPackages } from "./preflight.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

test("the runner with a PATH lacking git and openssl, and no Chromium: one line, exit 1, at once", async () => {
  const empty = mkdtempSync(join(tmpdir(), "fc-empty-path-"));
  try {
    const t0 = Date.now();
    const { code, stderr, stdout } = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ["--import", "tsx", "test/run.ts", "test/e2e/web.test.ts"], {
        cwd: ROOT,
        env: { ...process.env, PATH: empty, CHROMIUM_PATH: join(empty, "chromium"), DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let [out, err] = ["", ""];
      child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
      child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c, stderr: err, stdout: out }));
    });
    const elapsed = Date.now() - t0;
    assert.equal(code, 1);
    assert.equal(stdout, "");
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(
      lines[0],
      /missing system packages for these tests: openssl git chromium; install them with: (sudo )?apt-get install -y openssl git chromium/,
    );
    // Well within the start of a run: no database was started (its URL here points nowhere).
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test("only what the selected tests need is required", () => {
  const env = { PATH: process.env.PATH, CHROMIUM_PATH: "/nonexistent/chromium" };
  assert.deepEqual(missingPackages(["lib/async-queue.test.ts"], { root: ROOT, env }).missing, []);
  assert.deepEqual(
    missingPackages(["test/e2e/web.test.ts"], { root: ROOT, env }).missing.map((p) => p.name),
    ["chromium"],
  );
  const pam = readPackages("libpam0g-dev server/pam-issuer /usr/include/security/pam_appl.h,node:no-such-native-module\n");
  const r = missingPackages(["server/pam-issuer/pam-issuer.test.ts"], { root: ROOT, env, packages: pam });
  assert.deepEqual(r.rebuild, ["no-such-native-module"]);
});

test("the real-podman tests and bench need podman, runc, podman-compose, the registry and busybox", () => {
  // Every check made to fail: what is "missing" is then what the files need.
  const absent = readPackages().map((p) => ({ ...p, checks: ["/nonexistent"] }));
  const needs = (file: string) => missingPackages([file], { root: ROOT, env: {}, packages: absent }).missing.map((p) => p.name);
  for (const file of ["test/podman-e2e.test.ts", "test/bench/apps.bench.ts"]) {
    const got = needs(file);
    for (const pkg of ["podman", "runc", "podman-compose", "docker-registry", "busybox-static"])
      assert.ok(got.includes(pkg), `${file} needs ${pkg}: ${got}`);
  }
  assert.ok(!needs("test/agent.test.ts").includes("podman"), "tests without podman do not ask for it");
});

test("one list: .ci/run installs from it and the README's install line names exactly its packages", () => {
  const packages = readPackages();
  assert.match(readFileSync(join(ROOT, ".ci", "run"), "utf8"), /done <test\/system-packages\.txt/);
  // The command may go on over lines ending in a backslash.
  const line = /sudo apt-get install -y ((?:[^\n]*\\\n)*[^\n]+)/
    .exec(readFileSync(join(ROOT, "README.md"), "utf8"))?.[1]
    ?.replace(/\\\n/g, " ");
  assert.ok(line, "README has an install line");
  const wanted = packages.filter((p) => !(p.when.length === 1 && p.when[0] === "ci")).map((p) => p.name);
  assert.deepEqual(line.trim().split(/\s+/).sort(), wanted.sort());
});
