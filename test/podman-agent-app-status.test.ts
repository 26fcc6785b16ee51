// An in-process agent whose application status is read from real podman, reporting to a real API: a compose app's two
// containers show as 2/2 Running; a `podman kill` of one reaches the service within seconds (Running 1/2, Degraded,
// a DeviceApplicationDegraded event), a `podman start` brings back Healthy with DeviceApplicationHealthy — all from
// status reports the monitor triggers, not from the (60 s) heartbeat.
//
// Everything runs real: the agent's compose provider brings the app up with podman-compose, the monitor reads podman.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import pino from "pino";
import { createAgent, type Agent } from "../agent/agent.js";
import { appId } from "../agent/apply.js";
import { COMPOSE_PROJECT_LABEL } from "../agent/apps/labels.js";
import { parseAgentConfig } from "../agent/config.js";
import { realExecutor } from "../agent/host.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";

const IMAGE = "localhost/agent-status:1";
let t: TestApi;
let p: PodmanEnv;
let admin: string;
let dir: string;
let agent: Agent | undefined;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const devices = () => userClient(t, DeviceService);

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-agent-app-status-"));
  p = await startPodmanEnv();
  Object.assign(process.env, p.env);
  await p.buildImage(IMAGE);
});

after(async () => {
  await agent?.stop();
  await p.close();
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("a killed container of a compose app reaches the service within seconds, and its recovery too", async () => {
  const root = join(dir, "root");
  mkdirSync(join(root, "proc/sys/kernel/random"), { recursive: true });
  writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), "boot-1\n");
  const config = parseAgentConfig(await agentConfigYaml(t, admin, join(dir, "data"), root));
  agent = createAgent({
    config,
    log: pino({ level: "silent" }),
    exec: realExecutor,
    console: { enabled: false },
    onEnrollmentRequested: async (n) => {
      await userClient(t, EnrollmentRequestService).approveEnrollmentRequest({ name: n, approval: { approved: true } }, auth());
    },
  });
  await agent.start();
  const name = agent.name;
  const status = async () => (await devices().getDevice({ name }, auth())).status;
  const events = async () =>
    (
      await t.db.pool.query(`select reason from events where involved_name = $1 and reason like 'DeviceApplication%' order by seq`, [name])
    ).rows.map((r) => r.reason as string);

  const compose = `services:\n  a:\n    image: ${IMAGE}\n  b:\n    image: ${IMAGE}\n`;
  await devices().replaceDevice(
    {
      name,
      device: fromJson(DeviceSchema, {
        apiVersion: "flightctl.io/v1beta1",
        kind: "Device",
        metadata: { name },
        spec: { applications: [{ name: "web", appType: "compose", inline: [{ path: "docker-compose.yaml", content: compose }] }] },
      }),
    },
    auth(),
  );
  let s = await waitFor(
    "2/2 Running",
    async () => {
      const st = await status();
      return st?.applications[0]?.ready === "2/2" && st.updated?.status === "UpToDate" && st;
    },
    60_000,
  );
  const id = appId("web");
  const names = (await p.ok(["ps", "--filter", `label=${COMPOSE_PROJECT_LABEL}=${id}`, "--format", "{{.Names}}"]))
    .trim()
    .split("\n")
    .sort();
  assert.equal(names.length, 2, `podman runs the app's two containers: ${names.join(", ")}`);
  assert.equal(s.applications[0].status, "Running");
  assert.equal(s.applicationsSummary?.status, "Healthy");

  const t0 = Date.now();
  await p.ok(["kill", names[1]]);
  s = await waitFor("the kill reported", async () => {
    const st = await status();
    return st?.applications[0]?.ready === "1/2" && st;
  });
  const ms = Date.now() - t0;
  assert.ok(ms < 10_000, `the service knew after ${ms} ms`);
  assert.deepEqual([s.applications[0].status, s.applicationsSummary?.status], ["Running", "Degraded"]);
  assert.match(s.applicationsSummary?.info ?? "", /web is in status Degraded/);

  await p.ok(["start", names[1]]);
  s = await waitFor("back to Healthy", async () => {
    const st = await status();
    return st?.applicationsSummary?.status === "Healthy" && st;
  });
  assert.equal(s.applications[0].ready, "2/2");
  assert.deepEqual((await events()).slice(-2), ["DeviceApplicationDegraded", "DeviceApplicationHealthy"]);
  await agent.stop();
  agent = undefined;
});
