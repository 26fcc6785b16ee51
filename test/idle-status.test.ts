// A connected device whose status does not change sends no periodic report: the stream's heartbeats keep its lastSeen
// moving. A changed status is still sent at the next interval; after the stream reconnects a report is sent at once,
// so a device the disconnect sweep marked while the service was away has its reported summary again.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createAgent, type Agent } from "../agent/agent.js";
import { parseAgentConfig } from "../agent/config.js";
import { recordingExecutor } from "../agent/host.js";
import { memoryFs } from "../agent/memory-fs.js";
import type { ResourceMonitor } from "../agent/resources.js";
import { simulatedHost } from "../agent/sim-host.js";
import { memorySpecStore } from "../agent/spec-files.js";
import type { DeviceResourceStatusJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { createDeviceTasks } from "../server/devices/device-tasks.js";
import { createDb } from "../server/platform/db.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";

let t: TestApi;
let admin: string;
let dir: string;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const HEARTBEAT_MS = 300;

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: HEARTBEAT_MS });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-idle-"));
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("an unchanged connected device sends no periodic report; changes and reconnections are reported", async () => {
  let resources: DeviceResourceStatusJson = { cpu: "Healthy", memory: "Healthy", disk: "Healthy" };
  const monitor: ResourceMonitor = { status: () => resources, configure() {}, close() {} };
  const counts = { status: 0, connected: 0 };
  // status-update-interval 1 s (the test config's 2 s, shortened): several intervals pass in each wait below.
  const config = parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused"), { statusUpdateIntervalMs: 1000 });
  const fs = memoryFs(join(dir, "root"));
  const exec = simulatedHost(recordingExecutor({}), fs, join(dir, "bootc.json"), join(dir, "root", "boot_id"), async () => {});
  const approver = userClient(t, EnrollmentRequestService);
  const agent: Agent = createAgent({
    config: { ...config, dataDir: join(dir, "data"), rootDir: join(dir, "root") },
    log: pino({ level: process.env.AGENT_LOG ?? "silent" }),
    fs,
    exec,
    specStore: memorySpecStore(),
    appStatus: "recorded",
    resources: monitor,
    console: { enabled: false },
    onEnrollmentRequested: async (name) => void (await approver.approveEnrollmentRequest({ name, approval: { approved: true } }, auth())),
    onEvent: (e) => {
      if (e === "status" || e === "connected") counts[e]++;
    },
  });
  const devices = userClient(t, DeviceService);
  const device = () => devices.getDevice({ name: agent.name }, auth());
  const lastSeen = async () => {
    const at = (await device()).status?.lastSeen;
    return at ? timestampDate(at).getTime() : 0;
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await agent.start();
  try {
    await waitFor("the device Online and up to date", async () => {
      const d = await device();
      return counts.connected === 1 && d.status?.summary?.status === "Online" && d.status.updated?.status === "UpToDate";
    });
    // Whatever the first render caused is sent by now.
    await sleep(1500);

    const sent = counts.status;
    const seen = await lastSeen();
    await sleep(4000);
    assert.equal(counts.status, sent, "no report while nothing changed (four intervals)");
    assert.ok((await lastSeen()) > seen, "lastSeen kept advancing (the stream's heartbeats)");

    resources = { ...resources, cpu: "Warning" };
    await waitFor("the changed resource status on the service", async () => (await device()).status?.resources?.cpu === "Warning", 5000);
    assert.equal(counts.status, sent + 1, "one report for the change");

    // The service goes away for longer than the disconnect threshold (shortened): the sweep marks the device.
    const ports = { port: t.api.port, agentPort: t.api.agentPort };
    await t.api.close();
    await sleep(1500);
    const tasks = createDeviceTasks(createDb(t.db.pool));
    assert.equal(await tasks.sweep(1000, 1000), 1, "the silent device is marked");
    assert.equal((await t.db.pool.query(`select status->'summary'->>'status' s from devices`)).rows[0].s, "Unknown");
    const before = counts.status;
    t.api = (await startTestApi({ reuse: { db: t.db, dataDir: t.dataDir, issuer: t.issuer }, heartbeatMs: HEARTBEAT_MS, ...ports })).api;
    await waitFor("the stream reconnected", async () => counts.connected === 2, 15_000);
    // Degraded: what it reports (the CPU warning), no longer Unknown.
    await waitFor("the device's reported summary again", async () => (await device()).status?.summary?.status === "Degraded", 5000);
    assert.ok(counts.status > before, "a report after the reconnection, though the status did not change");
  } finally {
    await agent.stop();
  }
});
