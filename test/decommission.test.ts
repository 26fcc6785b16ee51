// DecommissionDevice with a real simulated agent (it reports the lifecycle, drops its identity and stops) and
// ResumeDevices by selector (counts, events), with RBAC: operators may, viewers may not.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import pino from "pino";
import pg from "pg";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";

let t: TestApi;
let admin: string;
let operator: string;
let viewer: string;
let dir: string;
const auth = (token = admin) => ({ headers: { authorization: `Bearer ${token}` } });
const devices = () => userClient(t, DeviceService);
const device = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "flightctl.io/v1beta1",
  kind: "Device",
  metadata: { name, labels },
  spec: {},
});
const eventsOf = async (name: string, reason: string) =>
  (await userClient(t, EventService).listEvents({ options: { fieldSelector: `involvedObject.name=${name},reason=${reason}` } }, auth()))
    .items;
const code = (c: Code) => (e: unknown) => ConnectError.from(e).code === c;

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  operator = await t.issuer.token("olga", { roles: ["flightctl-operator"], organizations: ["default"] });
  viewer = await t.issuer.token("vic", { roles: ["flightctl-viewer"], organizations: ["default"] });
  dir = mkdtempSync(join(tmpdir(), "fc-decom-"));
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

describe("DecommissionDevice", () => {
  test("the agent reports Decommissioning then Decommissioned, drops its identity and stops; the device is frozen", async () => {
    const installer = await t.issuer.token("inst", { roles: ["flightctl-installer"], organizations: ["default"] });
    const sim = await startSimulator({
      count: 1,
      config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
      baseDir: join(dir, "sim"),
      labels: { fleet: "decom" },
      approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer },
      log: pino({ level: "silent" }),
    });
    try {
      await sim.started();
      const name = (await devices().listDevices({ options: { labelSelector: "fleet=decom" } }, auth())).items[0].metadata!.name!;
      await waitFor("the device Online", async () => (await devices().getDevice({ name }, auth())).status?.summary?.status === "Online");

      await assert.rejects(
        devices().decommissionDevice({ name, decommission: { target: "Unenroll" } }, auth(viewer)),
        code(Code.PermissionDenied),
      );
      await assert.rejects(
        devices().decommissionDevice({ name, decommission: { target: "Explode" } }, auth(operator)),
        (e: unknown) => code(Code.InvalidArgument)(e) && /decommission\.target/.test(ConnectError.from(e).rawMessage),
      );
      const d = await devices().decommissionDevice({ name, decommission: { target: "Unenroll" } }, auth(operator));
      assert.equal(d.spec?.decommissioning?.target, "Unenroll");
      assert.equal(d.status?.lifecycle?.status, "Decommissioning");
      assert.equal((await eventsOf(name, "DeviceDecommissioned")).length, 1);

      // Frozen: user writes and a second decommission are refused.
      await assert.rejects(
        devices().replaceDevice({ name, device: device(name, { fleet: "decom" }) }, auth()),
        code(Code.FailedPrecondition),
      );
      await assert.rejects(
        devices().patchDevice({ name, patch: [{ op: "remove", path: "/metadata/labels/fleet" }] }, auth()),
        code(Code.FailedPrecondition),
      );
      await assert.rejects(devices().decommissionDevice({ name, decommission: {} }, auth()), code(Code.FailedPrecondition));

      // The agent receives it through its rendered spec, reports the lifecycle, removes its identity and stops.
      const done = await waitFor("lifecycle Decommissioned", async () => {
        const s = (await devices().getDevice({ name }, auth())).status;
        return s?.lifecycle?.status === "Decommissioned" && s;
      });
      assert.ok(done.conditions.some((c) => c.type === "DeviceDecommissioning" && c.reason === "Completed"));
      // flightctl's summary values have no decommissioned state: a device that completed it is gone, so Unknown, saying why.
      assert.equal(done.summary?.status, "Unknown");
      assert.match(done.summary?.info ?? "", /decommissioned/);
      await waitFor("the agent stopped", async () => sim.counts.decommissioned === 1);
      assert.equal(existsSync(join(dir, "sim", "agent-00000", "data")), false, "the agent's data (identity) is gone");
      // The agent's report of completion is an event too.
      assert.equal((await eventsOf(name, "DeviceDecommissioned")).length, 2);
    } finally {
      await sim.stop();
    }
  });
});

describe("ResumeDevices", () => {
  test("resumes the conflict-paused devices the selectors pick, one DeviceConflictResolved event each", async () => {
    for (const [n, site] of [
      ["p1", "a"],
      ["p2", "a"],
      ["p3", "a"],
      ["p4", "b"],
    ])
      await devices().createDevice({ device: device(n, { site }) }, auth());
    // Conflict pausing happens after a restore; here it is set directly.
    const pool = new pg.Pool({ connectionString: t.db.url });
    try {
      await pool.query(
        `update devices set annotations = annotations || '{"device-controller/conflictPaused": "true"}', resource_version = nextval('resource_version_seq') where name in ('p1', 'p2', 'p4')`,
      );
    } finally {
      await pool.end();
    }
    await assert.rejects(devices().resumeDevices({ labelSelector: "site=a" }, auth(viewer)), code(Code.PermissionDenied));
    await assert.rejects(devices().resumeDevices({}, auth(operator)), code(Code.InvalidArgument));
    await assert.rejects(
      devices().resumeDevices({ labelSelector: "site in (a" }, auth(operator)),
      (e: unknown) => code(Code.InvalidArgument)(e) && /labelSelector/.test(ConnectError.from(e).rawMessage),
    );

    assert.equal((await devices().resumeDevices({ labelSelector: "site=a" }, auth(operator))).resumedDevices, 2);
    for (const n of ["p1", "p2"]) {
      assert.equal((await eventsOf(n, "DeviceConflictResolved")).length, 1, n);
      assert.equal((await devices().getDevice({ name: n }, auth())).metadata?.annotations["device-controller/conflictPaused"], undefined);
    }
    assert.equal((await eventsOf("p3", "DeviceConflictResolved")).length, 0);
    assert.equal((await devices().getDevice({ name: "p4" }, auth())).metadata?.annotations["device-controller/conflictPaused"], "true");
    // Nothing left to resume there; a field selector works too.
    assert.equal((await devices().resumeDevices({ labelSelector: "site=a" }, auth(operator))).resumedDevices, 0);
    assert.equal((await devices().resumeDevices({ fieldSelector: "metadata.name=p4" }, auth())).resumedDevices, 1);
  });
});
