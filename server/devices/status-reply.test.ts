// A status report's answer built from the reported message must be the device the stored JSON describes, whichever
// top-level fields the service changed, added or removed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { equals, fromJson, toJson } from "@bufbuild/protobuf";
import { DeviceSchema, DeviceStatusSchema, type DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { serviceStatus } from "./device-status.js";
import { deviceFromReport, deviceOf } from "./status-reply.js";

const reported: DeviceStatusJson = {
  conditions: [{ type: "Updating", status: "False", reason: "Updated", message: "", lastTransitionTime: "2026-01-01T00:00:00Z" }],
  systemInfo: { architecture: "amd64", operatingSystem: "linux", bootID: "b1", agentVersion: "v1" },
  applications: [{ name: "app", ready: "1/1", restarts: 0, status: "Running", embedded: false }],
  resources: { cpu: "Healthy", memory: "Healthy", disk: "Healthy" },
  config: { renderedVersion: "3" },
  lastSeen: "2026-01-01T00:00:01Z",
  summary: { status: "Online", info: "from the agent" },
};

const cases: [string, DeviceStatusJson, DeviceStatusJson | null][] = [
  ["first report (service fields added, lastSeen removed)", reported, null],
  [
    "a report over a stored status with a service condition",
    reported,
    { conditions: [{ type: "DeviceDecommissioning", status: "True", lastTransitionTime: "2026-01-01T00:00:00Z" }] },
  ],
  ["an empty report", {}, null],
];

for (const [what, sent, previous] of cases) {
  test(`the answer equals the stored status converted whole: ${what}`, () => {
    const labels = { site: "a" };
    const annotations = { "device-controller/renderedVersion": "3" };
    const status = serviceStatus(sent, previous, { annotations, renderedVersion: 3, disconnected: false });
    const stored = { labels, annotations, status };
    // The agent's message, as the endpoint decoded it, and its JSON (what the service computed from).
    const message = fromJson(DeviceStatusSchema, sent);
    const json = toJson(DeviceStatusSchema, message) as DeviceStatusJson;
    const fast = deviceFromReport("d1", message, json, stored);
    const whole = deviceOf("d1", stored);
    assert.ok(equals(DeviceSchema, fast, whole), JSON.stringify({ fast: toJson(DeviceSchema, fast), whole: toJson(DeviceSchema, whole) }));
    assert.equal(fast.status?.lastSeen, undefined);
  });
}
