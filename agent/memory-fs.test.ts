// The simulator's in-memory host files behave as the real rooted file system for everything the agent does with
// them (apply config files, plan changes, read hooks, remove what a spec dropped): the same operations on both give
// the same answers. And the in-memory spec store keeps the agent's current/desired/rollback as the files do.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { applyFiles, planFiles } from "./apply.js";
import { rootedFs, type HostFs } from "./host.js";
import { memoryFs } from "./memory-fs.js";
import { memorySpecStore, openSpecFiles, openSpecs, versionOf } from "./spec-files.js";

const spec = (files: Record<string, string>, mode?: number) => ({
  config: [{ name: "c", inline: Object.entries(files).map(([path, content]) => ({ path, content, mode })) }],
});

/** Everything observable of the host after a sequence of operations. */
function run(fs: HostFs) {
  const seen: unknown[] = [];
  const look = () =>
    seen.push({
      etc: fs.list("/etc"),
      app: fs.list("/etc/app"),
      root: fs.list("/").filter((n) => n === "etc"),
      a: fs.read("/etc/app/a.conf")?.toString(),
      aMode: fs.mode("/etc/app/a.conf"),
      b: fs.exists("/etc/app/sub/b.conf"),
      dir: fs.exists("/etc/app"),
      missing: [fs.read("/nope"), fs.mode("/nope"), fs.exists("/nope"), fs.list("/nope")],
    });
  seen.push(planFiles(fs, {}, spec({ "/etc/app/a.conf": "one\n", "/etc/app/sub/b.conf": "b\n" })));
  seen.push(applyFiles(fs, {}, spec({ "/etc/app/a.conf": "one\n", "/etc/app/sub/b.conf": "b\n" })));
  look();
  seen.push(
    applyFiles(fs, spec({ "/etc/app/a.conf": "one\n", "/etc/app/sub/b.conf": "b\n" }), spec({ "/etc/app/a.conf": "two\n" }, 0o600)),
  );
  look();
  fs.mkdir("/var/empty/dir");
  seen.push(fs.list("/var"), fs.list("/var/empty"), fs.exists("/var/empty/dir"));
  fs.remove("/etc/app");
  look();
  fs.write("etc/../etc/x", "rel");
  seen.push(fs.read("/etc/x")?.toString(), fs.list("/etc"));
  return seen;
}

test("in-memory host files answer as the real rooted file system", () => {
  const dir = mkdtempSync(join(tmpdir(), "memfs-"));
  try {
    assert.deepEqual(run(memoryFs(join(dir, "mem"))), run(rootedFs(dir)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a command given a real path of the in-memory host writes to the device path it names", () => {
  const fs = memoryFs("/sim/agent-00001/root");
  assert.equal(fs.real("/etc/compose/app"), "/sim/agent-00001/root/etc/compose/app");
  assert.equal(fs.devicePath(fs.real("/etc/compose/app")), "/etc/compose/app");
  assert.equal(fs.devicePath("/sim/agent-00001/root"), "/");
  assert.equal(fs.devicePath("/sim/agent-00002/root/etc"), undefined);
});

test("the in-memory spec store keeps current, desired, rollback and failed versions as the files do", () => {
  const dir = mkdtempSync(join(tmpdir(), "specs-"));
  try {
    const device = (v: number) => ({ metadata: { annotations: { "device-controller/renderedVersion": String(v) } }, spec: {} });
    const steps = (s: ReturnType<typeof openSpecs>) => {
      const out: number[][] = [];
      const now = () => out.push([versionOf(s.current()), versionOf(s.desired()), ...[...s.failed].sort()]);
      now();
      s.setDesired(device(1));
      s.upgrade();
      now();
      s.setDesired(device(2));
      s.rollback();
      now();
      s.setDesired(device(3));
      s.revert();
      now();
      return out;
    };
    const store = memorySpecStore();
    assert.deepEqual(steps(openSpecs(store)), steps(openSpecFiles(dir)));
    // Opened again (a simulated reboot): what was kept is still there.
    const again = openSpecs(store);
    assert.equal(versionOf(again.current()), 1);
    assert.deepEqual([...again.failed], [2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
