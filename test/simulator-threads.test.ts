// The simulator spread over worker threads: every agent of every thread enrolls, connects and is counted once in
// the main thread's metrics and summary; indexes stay unique beside another simulator; stop ends the threads; the
// threads run with a larger young generation.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { parseAgentConfig } from "../agent/config.js";
import { agentDir } from "../agent/sim-claims.js";
import { startSimulatorThreads } from "../agent/sim-threads.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";

let t: TestApi;
let admin: string;
let dir: string;

before(async () => {
  t = await startTestApi({ worker: true });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-sim-threads-"));
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("agents in two threads all enroll and connect, counted once each; indexes stay unique; stop ends the threads", async () => {
  const config = parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused"));
  const opts = {
    config,
    baseDir: join(dir, "sim"),
    labels: { spread: "threads" },
    approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: admin },
    summaryIntervalMs: 0,
    log: pino({ level: "silent" }),
  };
  const sim = await startSimulatorThreads({ ...opts, count: 5 }, 2);
  const beside = await startSimulatorThreads({ ...opts, count: 2 }, 2);
  const devices = userClient(t, DeviceService);
  try {
    await Promise.all([sim.started(), beside.started()]);
    assert.deepEqual(sim.indexes, [0, 1, 2, 3, 4]);
    assert.deepEqual(beside.indexes, [5, 6]);
    await waitFor("every agent connected, in the main thread's counts", async () => sim.summary().events.connected >= 5);
    assert.equal(sim.summary().agents, 5);
    // A connection storm's agents are scavenged from a young generation four times V8's default (48 MB).
    for (const limits of sim.resourceLimits()) assert.equal(limits?.maxYoungGenerationSizeMb, 192);
    assert.match(await sim.registry.metrics(), /^flightctl_simulator_agents_connected 5$/m);
    const list = await devices.listDevices(
      { options: { labelSelector: "spread=threads" } },
      { headers: { authorization: `Bearer ${admin}` } },
    );
    const seen = list.items.map((d) => Number(d.metadata!.labels["simulator-index"])).sort((a, b) => a - b);
    assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6], "one device per index, across both simulators and their threads");
  } finally {
    await Promise.all([sim.stop(), beside.stop()]);
  }
  for (const i of [0, 4, 5, 6]) assert.ok(!existsSync(join(agentDir(opts.baseDir, i), "claim")), `claim ${i} released`);
});
