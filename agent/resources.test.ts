// The resource monitor follows the spec: it samples at the monitors' samplingInterval and measures the Disk monitor's
// path (under the device root), reading the real host.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startResourceMonitor } from "./resources.js";

const until = async (cond: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
};

test("samples at the spec's samplingInterval (the shortest), and back at the default when the spec has none", async () => {
  let samples = 0;
  const m = startResourceMonitor("/", { sample: () => (samples++, { cpu: 0, memory: 0, disk: 0 }) });
  try {
    const first = samples;
    m.configure({
      resources: [
        { monitorType: "CPU", samplingInterval: "1s", alertRules: [] },
        { monitorType: "Memory", samplingInterval: "1h", alertRules: [] },
      ],
    });
    assert.ok(await until(() => samples >= first + 2), "two samples within seconds at a 1s interval (the default is 60 s)");
    m.configure({});
    const after = samples;
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(samples, after, "no 1 s sampling once the spec drops it");
  } finally {
    m.close();
  }
});

test("the Disk monitor measures its path under the device root: a filesystem in use is Critical, a missing path is not", async () => {
  const root = mkdtempSync(join(tmpdir(), "resources-"));
  const m = startResourceMonitor(root);
  const critical = (path: string) => ({
    resources: [
      { monitorType: "Disk", samplingInterval: "1s", path, alertRules: [{ severity: "Critical", percentage: 0.001, duration: "0s" }] },
    ],
  });
  try {
    m.configure(critical("/"));
    assert.ok(await until(() => m.status().disk === "Critical"), "the root's filesystem is above 0.001 %");
    m.configure(critical("/no/such/dir"));
    assert.ok(await until(() => m.status().disk === "Healthy"), "nothing measured at a path that is not there");
  } finally {
    m.close();
    rmSync(root, { recursive: true, force: true });
  }
});
