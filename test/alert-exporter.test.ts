// The alert exporter against a real Alertmanager (test/helpers/alertmanager.ts) and the service's own status path:
// simulated agents report through the agent service, the service writes flightctl's events, the exporter turns them
// into alerts, and the webhook receiver sees what a pager would. Each alert is notified firing once and resolved
// once; labels follow docs/alerts.md; a second copy waits and takes over.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import type { TestApp } from "./helpers/app.js";
import type { AlertmanagerServer } from "./helpers/alertmanager.js";
import { deviceReport, has, seen, simulatedAgent, startAlertEnv, startTestExporter } from "./helpers/alerts.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { createDeviceTasks } from "../server/devices/device-tasks.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";

/** A declarative fleet rule: more than 40 % of a fleet's devices disconnected. */
const FLEET_RULE = { alertname: "FleetDevicesDisconnected", status: "Unknown", percent: 40 };
type Env = Awaited<ReturnType<typeof startAlertEnv>>;
let env: Env;
let t: TestApp;
let am: AlertmanagerServer;
let agent: Env["agent"];
before(async () => {
  env = await startAlertEnv({ fleetRules: [FLEET_RULE] });
  ({ t, am, agent } = env);
});
after(async () => {
  await env?.close();
  await assertNoOpenHandles();
});

const devices = () => createClient(DeviceService, t.transport);
const putDevice = (name: string, labels: Record<string, string> = {}) =>
  devices().replaceDevice({ name, device: { apiVersion: "v1beta1", kind: "Device", metadata: { name, labels }, spec: {} } });
/** Long enough for Alertmanager to have sent any further notification (group_interval 1s, exporter poll 200 ms). */
const settle = () => new Promise((r) => setTimeout(r, 4000));

test("a disk crossing critical raises DeviceDiskCritical, which resolves DeviceDiskWarning; both resolve when it goes back", async (ctx) => {
  const name = "disk-1";
  await putDevice(name, { region: "eu-west-1", "app.kubernetes.io/part-of": "edge" });
  // The fleet controller would set this for a fleet member.
  await t.db.pool.query(`update devices set owner = 'Fleet/f1' where name = $1`, [name]);
  const dev = simulatedAgent(agent, DEFAULT_ORG_ID, name);
  await dev.report(deviceReport());
  await dev.report(deviceReport({ disk: "Warning" }));
  const warned = await am.webhook.waitFor(has("DeviceDiskWarning", name, "firing"));
  const alert = warned.alerts.find((a) => a.labels.alertname === "DeviceDiskWarning")!;
  ctx.diagnostic(`webhook payload: ${JSON.stringify(warned)}`);
  assert.deepEqual(alert.labels, {
    alertname: "DeviceDiskWarning",
    resource: name,
    kind: "Device",
    org_id: DEFAULT_ORG_ID,
    fleet: "f1",
    device_label_region: "eu-west-1",
    device_label_app_kubernetes_io_part_of: "edge",
  });
  const { rows } = await t.db.pool.query(`select id::text, message from events where involved_name = $1 and reason = 'DeviceDiskWarning'`, [
    name,
  ]);
  assert.deepEqual(alert.annotations, { summary: rows[0].message, event: rows[0].id });

  await dev.report(deviceReport({ disk: "Critical" }));
  await am.webhook.waitFor(has("DeviceDiskCritical", name, "firing"));
  await am.webhook.waitFor(has("DeviceDiskWarning", name, "resolved"));
  assert.deepEqual(
    (await am.alerts([`resource="${name}"`])).map((a) => a.labels.alertname),
    ["DeviceDiskCritical"],
  );

  await dev.report(deviceReport({ disk: "Healthy" }));
  await am.webhook.waitFor(has("DeviceDiskCritical", name, "resolved"));
  await settle();
  assert.deepEqual(seen(am.webhook.notifications, "DeviceDiskWarning", name), ["firing", "resolved"]);
  assert.deepEqual(seen(am.webhook.notifications, "DeviceDiskCritical", name), ["firing", "resolved"]);
  assert.deepEqual(await am.alerts([`resource="${name}"`]), []);
});

test("a silent device raises DeviceDisconnected at the disconnect timeout; reconnecting resolves it", async () => {
  const name = "conn-1";
  await putDevice(name);
  const dev = simulatedAgent(agent, DEFAULT_ORG_ID, name);
  await dev.report(deviceReport());
  await env.lastSeen.flush();
  // A 1 s disconnect timeout instead of 5 minutes: the sweep is the worker's disconnect_sweep task.
  const tasks = createDeviceTasks(env.db);
  await new Promise((r) => setTimeout(r, 1500));
  // Every device silent for a second is swept (the other tests' too); this one must be among them.
  assert.ok((await tasks.sweep(1000, 1000)) >= 1);
  await am.webhook.waitFor(has("DeviceDisconnected", name, "firing"));
  await dev.report(deviceReport());
  await am.webhook.waitFor(has("DeviceDisconnected", name, "resolved"));
  await settle();
  assert.deepEqual(seen(am.webhook.notifications, "DeviceDisconnected", name), ["firing", "resolved"]);
});

test("decommissioning a device resolves all its alerts", async () => {
  const name = "dec-1";
  await putDevice(name);
  const dev = simulatedAgent(agent, DEFAULT_ORG_ID, name);
  await dev.report(deviceReport({ cpu: "Critical" }, [{ name: "web", status: "Error" }]));
  await am.webhook.waitFor(has("DeviceCPUCritical", name, "firing"));
  await am.webhook.waitFor(has("DeviceApplicationError", name, "firing"));
  await devices().decommissionDevice({ name, decommission: { target: "Unenroll" } });
  await am.webhook.waitFor(has("DeviceCPUCritical", name, "resolved"));
  await am.webhook.waitFor(has("DeviceApplicationError", name, "resolved"));
  await settle();
  assert.deepEqual(seen(am.webhook.notifications, "DeviceCPUCritical", name), ["firing", "resolved"]);
  assert.deepEqual(seen(am.webhook.notifications, "DeviceApplicationError", name), ["firing", "resolved"]);
  assert.deepEqual(await am.alerts([`resource="${name}"`]), []);
});

test("a fleet rule: more than 40 % of fleet fa disconnected raises a Fleet alert; it resolves when they are back", async () => {
  for (const name of ["fa-1", "fa-2"]) {
    await putDevice(name);
    await simulatedAgent(agent, DEFAULT_ORG_ID, name).report(deviceReport());
  }
  // Both join the fleet at once, Online: a device joining alone before its first report (summary Unknown) is 1 of 1
  // Unknown, and the exporter's evaluation could fire on that (seen once in CI under load).
  await t.db.pool.query(`update devices set owner = 'Fleet/fa' where name = any($1)`, [["fa-1", "fa-2"]]);
  await env.lastSeen.flush();
  // One of the two silent for an hour; the sweep (10 min timeout here) marks only it.
  await t.db.pool.query(`update device_last_seen set last_seen = now() - interval '1 hour' where name = 'fa-1'`);
  await createDeviceTasks(env.db).sweep(1000, 600_000);
  const n = await am.webhook.waitFor(has("FleetDevicesDisconnected", "fa", "firing"));
  const alert = n.alerts.find((a) => a.labels.resource === "fa")!;
  assert.deepEqual(alert.labels, {
    alertname: "FleetDevicesDisconnected",
    resource: "fa",
    kind: "Fleet",
    org_id: DEFAULT_ORG_ID,
    fleet: "fa",
  });
  assert.match(alert.annotations.summary, /^1 of 2 devices of fleet fa \(50 %\) are Unknown/);
  await simulatedAgent(agent, DEFAULT_ORG_ID, "fa-1").report(deviceReport());
  await am.webhook.waitFor(has("FleetDevicesDisconnected", "fa", "resolved"));
  await settle();
  assert.deepEqual(seen(am.webhook.notifications, "FleetDevicesDisconnected", "fa"), ["firing", "resolved"]);
});

test("a second copy waits for the lock and takes over when the first stops", async () => {
  const second = await startTestExporter(t.db.url, am.url, { fleetRules: [FLEET_RULE] });
  try {
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual([env.exporter.leader, second.leader], [true, false], "one copy exports, the other waits");
    const health = await (await fetch(`http://127.0.0.1:${second.port}/health`)).json();
    assert.equal(health.component, "flightctl-alert-exporter");
    assert.equal(health.leader, false);
    await env.exporter.close();
    const deadline = Date.now() + 30_000;
    while (!second.leader && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(second.leader, "the waiting copy took over");
    // It carries on from the first one's cursor: a new alert arrives, the old ones are not raised again.
    const name = "copy-1";
    await putDevice(name);
    const dev = simulatedAgent(agent, DEFAULT_ORG_ID, name);
    await dev.report(deviceReport({ memory: "Warning" }));
    await am.webhook.waitFor(has("DeviceMemoryWarning", name, "firing"));
    await settle();
    assert.deepEqual(seen(am.webhook.notifications, "DeviceMemoryWarning", name), ["firing"]);
    assert.deepEqual(seen(am.webhook.notifications, "DeviceDiskWarning", "disk-1"), ["firing", "resolved"]);
    const metrics = await (await fetch(`http://127.0.0.1:${second.port}/metrics`)).text();
    assert.match(metrics, /^flightctl_alert_exporter_alerts_created_total 1$/m, "the second copy raised one alert");
    assert.match(metrics, /^flightctl_alert_exporter_leader 1$/m);
  } finally {
    env.exporter = second;
  }
});
