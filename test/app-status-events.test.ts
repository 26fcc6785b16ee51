// The service's side of application status: reports built by the agent's rules (agent/apps/app-status.ts) from
// containers going down and up become flightctl's events — DeviceApplicationDegraded, DeviceApplicationError,
// DeviceApplicationHealthy (also when a failing app is removed) — and a rebooting device's apps are Degraded.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import pino from "pino";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema, type DeviceStatus } from "../gen/flightctl/v1beta1/device_pb.js";
import { createDeviceAgentService } from "../server/devices/device-agent-service.js";
import { createLastSeenRecorder } from "../server/devices/last-seen.js";
import { startRenderNotifier } from "../server/devices/render-notifier.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { appStatus, summarize, type WorkloadState } from "../agent/apps/app-status.js";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const ORG = DEFAULT_ORG_ID;
const NAME = "apps-1";
const devices = () => createClient(DeviceService, t.transport);
const appEvents = async () =>
  (
    await t.db.pool.query(
      `select reason, type, message from events where involved_name = $1 and reason like 'DeviceApplication%' order by seq`,
      [NAME],
    )
  ).rows.map((r) => `${r.reason}/${r.type}: ${r.message}`);

/** The status part an agent builds for app "web" whose containers are in `states` (as agent/apps/monitor.ts does). */
function appsReport(states: WorkloadState[] | undefined, rebooting = false) {
  const s =
    states &&
    appStatus(
      states.map((state, i) => ({ id: `c${i}`, name: `web-${i}`, state, restarts: 0 })),
      false,
    );
  return {
    summary: { status: "Online" },
    config: { renderedVersion: "1" },
    conditions: rebooting ? [{ type: "Updating", status: "True", reason: "Rebooting", message: "rebooting" }] : [],
    applications: s ? [{ name: "web", appType: "compose", status: s.status, ready: s.ready, restarts: s.restarts, embedded: false }] : [],
    applicationsSummary: summarize(s ? [{ name: "web", health: s.health }] : []),
  };
}

test("application status reports turn into flightctl's application events", async () => {
  await devices().replaceDevice({ name: NAME, device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: NAME }, spec: {} } });
  const db = createDb(t.db.pool);
  const lastSeen = createLastSeenRecorder(db, pino({ level: "silent" }), { flushMs: 60_000 });
  const notifier = await startRenderNotifier(t.db.url, pino({ level: "silent" }));
  const agent = createDeviceAgentService({ db, lastSeen, notifier });
  const caller = {
    orgId: ORG,
    identity: { kind: "device" as const, actor: `device:${NAME}`, username: NAME, deviceName: NAME, orgId: ORG },
  };
  const report = async (status: object): Promise<DeviceStatus | undefined> =>
    (await agent.replaceStatus(caller, NAME, create(DeviceSchema, { status: status as never }))).status;
  try {
    let s = await report(appsReport(["running", "running"]));
    assert.equal(s?.applications[0].ready, "2/2");
    assert.equal(s?.applicationsSummary?.status, "Healthy");
    assert.deepEqual(await appEvents(), [], "coming up healthy is the normal start, not an event");

    // One container killed: Running 1/2, Degraded.
    s = await report(appsReport(["running", "died"]));
    assert.deepEqual([s?.applications[0].status, s?.applications[0].ready, s?.applicationsSummary?.status], ["Running", "1/2", "Degraded"]);
    // Both down: Error; back up: Healthy.
    await report(appsReport(["died", "died"]));
    s = await report(appsReport(["running", "running"]));
    assert.equal(s?.applicationsSummary?.status, "Healthy");
    assert.deepEqual(await appEvents(), [
      "DeviceApplicationDegraded/Warning: web is in status Degraded",
      "DeviceApplicationError/Warning: web is in status Error",
      "DeviceApplicationHealthy/Normal: Applications are Healthy",
    ]);

    // A failing app removed from the spec clears the error (flightctl: NoApplications is healthy).
    await report(appsReport(["died"]));
    s = await report(appsReport(undefined));
    assert.equal(s?.applicationsSummary?.status, "NoApplications");
    assert.deepEqual((await appEvents()).slice(3), [
      "DeviceApplicationError/Warning: web is in status Error",
      "DeviceApplicationHealthy/Normal: No applications",
    ]);

    // While the device reboots, its apps are down whatever the last report said.
    await report(appsReport(["running"]));
    s = await report(appsReport(["running"], true));
    assert.deepEqual([s?.applicationsSummary?.status, s?.applicationsSummary?.info], ["Degraded", "Device is rebooting"]);
    assert.equal((await appEvents()).at(-1), "DeviceApplicationDegraded/Warning: Device is rebooting");
  } finally {
    await notifier.close();
    await lastSeen.close();
  }
});
