// flightctl's alert rules, as a table: what each event reason fires and resolves given the resource's active alerts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ALERT_REASONS, applyRules } from "../server/alerts/rules.js";
import { alertLabels, sanitizeLabelKey } from "../server/alerts/labels.js";

test("the 16 reasons", () => {
  assert.equal(new Set(ALERT_REASONS).size, 16);
});

test("exclusive groups, connect/disconnect, and resolve-all", () => {
  const on = (...names: string[]) => new Set(names);
  assert.deepEqual(applyRules("DeviceDiskCritical", on("DeviceDiskWarning", "DeviceCPUWarning")), {
    fire: "DeviceDiskCritical",
    resolve: ["DeviceDiskWarning"],
  });
  assert.deepEqual(applyRules("DeviceDiskNormal", on("DeviceDiskCritical", "DeviceCPUWarning")), { resolve: ["DeviceDiskCritical"] });
  assert.deepEqual(applyRules("DeviceApplicationDegraded", on("DeviceApplicationError")), {
    fire: "DeviceApplicationDegraded",
    resolve: ["DeviceApplicationError"],
  });
  assert.deepEqual(applyRules("DeviceApplicationHealthy", on("DeviceApplicationDegraded")), { resolve: ["DeviceApplicationDegraded"] });
  assert.deepEqual(applyRules("DeviceMemoryWarning", on()), { fire: "DeviceMemoryWarning", resolve: [] });
  assert.deepEqual(applyRules("DeviceCPUNormal", on("DeviceMemoryWarning")), { resolve: [] });
  assert.deepEqual(applyRules("DeviceDisconnected", on("DeviceCPUWarning")), { fire: "DeviceDisconnected", resolve: [] });
  assert.deepEqual(applyRules("DeviceConnected", on("DeviceDisconnected", "DeviceCPUWarning")), { resolve: ["DeviceDisconnected"] });
  for (const reason of ["ResourceDeleted", "DeviceDecommissioned"])
    assert.deepEqual(applyRules(reason, on("DeviceDisconnected", "DeviceCPUWarning")).resolve.sort(), [
      "DeviceCPUWarning",
      "DeviceDisconnected",
    ]);
  assert.deepEqual(applyRules("DeviceUpdateFailed", on("DeviceCPUWarning")), { resolve: [] }, "other reasons do nothing");
});

test("labels: device labels sanitized under a prefix; the fixed labels win", () => {
  assert.equal(sanitizeLabelKey("app.kubernetes.io/name"), "app_kubernetes_io_name");
  assert.deepEqual(
    alertLabels({ alertname: "DeviceCPUWarning", orgId: "o", kind: "Device", resource: "d", deviceLabels: { "a-b": "1" } }),
    { device_label_a_b: "1", alertname: "DeviceCPUWarning", resource: "d", kind: "Device", org_id: "o" },
  );
});
