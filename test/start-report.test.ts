// A starting agent reports once: its first status report waits for the rendered-device stream's first message, so a
// version to apply is reported applied (one report, not one before the update and one after), and a device with
// nothing new reports as soon as the service's first message (a heartbeat, sent at once) arrives. start() resolves
// once that report is stored.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { createAgent, type AgentEvent } from "../agent/agent.js";
import { parseAgentConfig } from "../agent/config.js";
import { recordingExecutor } from "../agent/host.js";
import { memoryFs } from "../agent/memory-fs.js";
import { simulatedHost } from "../agent/sim-host.js";
import { memorySpecStore } from "../agent/spec-files.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";

let t: TestApi;
let admin: string;
let dir: string;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });

before(async () => {
  // Heartbeats a minute apart: a first message within this test is the one the service sends when the stream opens.
  t = await startTestApi({ worker: true, heartbeatMs: 60_000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-start-report-"));
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("a starting agent reports once: the version it applies, or at once when there is none to apply", async () => {
  // No periodic report within the test: every report seen is the start's or an update's.
  const config = parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused"), { statusUpdateIntervalMs: 600_000 });
  const fs = memoryFs(join(dir, "root"));
  const specStore = memorySpecStore();
  const exec = simulatedHost(recordingExecutor({}), fs, join(dir, "bootc.json"), join(dir, "boot_id"), async () => {});
  const approver = userClient(t, EnrollmentRequestService);
  const devices = userClient(t, DeviceService);
  const start = async () => {
    const events: AgentEvent[] = [];
    const agent = createAgent({
      config: { ...config, dataDir: join(dir, "data"), rootDir: join(dir, "root") },
      log: pino({ level: process.env.AGENT_LOG ?? "silent" }),
      fs,
      exec,
      specStore,
      appStatus: "recorded",
      console: { enabled: false },
      onEnrollmentRequested: async (name) => void (await approver.approveEnrollmentRequest({ name, approval: { approved: true } }, auth())),
      onEvent: (e) => events.push(e),
    });
    await agent.start();
    return { agent, events, stored: (await devices.getDevice({ name: agent.name }, auth())).status! };
  };

  // First start: enrolled, then the stream brings the first rendered version; its report is the start's.
  const first = await start();
  try {
    const rendered = await waitFor("the device rendered", async () => {
      const r = await devices.getRenderedDevice({ name: first.agent.name, knownRenderedVersion: "0" }, auth());
      return Number(r.device?.metadata?.annotations["device-controller/renderedVersion"] ?? 0) || undefined;
    });
    assert.deepEqual(
      first.events.filter((e) => e !== "enrolled"),
      ["connected", "applied", "status"],
      "one report, after the version was applied",
    );
    assert.equal(first.stored.config?.renderedVersion, String(rendered), "start() resolved with the applied version stored");
    assert.equal(first.stored.summary?.status, "Online");
  } finally {
    await first.agent.stop();
  }

  // Started again with that version: nothing to apply, so it reports on the service's first message.
  const again = await start();
  try {
    assert.deepEqual(again.events, ["connected", "status"], "the stream's first message came first, then the one report");
    assert.equal(again.stored.config?.renderedVersion, first.stored.config?.renderedVersion);
    assert.equal(again.stored.summary?.status, "Online");
  } finally {
    await again.agent.stop();
  }
});
