// OS updates with a real API and real in-process agents on a test device host (test/helpers/fake-bootc.ts): the fake
// bootc on the device's PATH stages and "boots" images, the executor's reboot changes the kernel boot id and starts a
// new agent instance on the same data dir and root. An image that boots completes the update after the reboot, with
// the reboot hooks in flightctl's order and status.os read from bootc; an image that fails to boot rolls the version
// back, reports flightctl's condition and is remembered as failed (not tried again after a restart); a package-mode
// device (no bootc) refuses an OS image before changing anything. A simulated device (agent/sim-host.ts) goes through the
// same reboots.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import pino from "pino";
import { createAgent, type Agent } from "../agent/agent.js";
import { parseAgentConfig, type AgentConfig } from "../agent/config.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { testDevice, type FakeBootcState, type TestDevice } from "./helpers/fake-bootc.js";
import { startSimulator } from "../agent/simulator.js";

let t: TestApi;
let admin: string;
let dir: string;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const devices = () => userClient(t, DeviceService);

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-os-update-"));
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

/** Writes `text` at device path `path` under `root` (hook files: what is on the device, not in the spec). */
function put(root: string, path: string, text: string) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

/** One device: its host, an agent instance (a new one after each reboot) and helpers to drive it through the API. */
function harness(label: string, opts: { bootc: boolean }) {
  const h = {
    /** The device root and data dir (set once the suite's temp dir exists). */
    root: "",
    dataDir: "",
    device: undefined as unknown as TestDevice,
    agent: undefined as unknown as Agent,
    name: "",
    version: 0,
    mark: 0,
    /** The agents' log lines (debug), across restarts. */
    lines: [] as { msg: string; version?: number }[],
    config: undefined as unknown as AgentConfig,
    async start() {
      const log = pino({ level: "debug" }, { write: (l: string) => void h.lines.push(JSON.parse(l)) });
      h.agent = createAgent({
        config: h.config,
        log,
        exec: h.device,
        console: { enabled: false },
        onEnrollmentRequested: async (n) => {
          await userClient(t, EnrollmentRequestService).approveEnrollmentRequest({ name: n, approval: { approved: true } }, auth());
        },
      });
      await h.agent.start();
      h.name = h.agent.name;
    },
    status: async () => (await devices().getDevice({ name: h.name }, auth())).status!,
    updating: async () => (await h.status()).conditions.find((c) => c.type === "Updating"),
    async setSpec(spec: JsonObject) {
      h.version++;
      h.mark = h.device.commands.length;
      await devices().replaceDevice(
        {
          name: h.name,
          device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: h.name }, spec }),
        },
        auth(),
      );
    },
    /** The agent's verdict on the newest version. */
    async outcome(reason: "Updated" | "Error") {
      const c = await waitFor(`version ${h.version}: ${reason}`, async () => {
        const u = await h.updating();
        return u?.status === "False" && new RegExp(`(Updated to|Failed to update to) version ${h.version}\\b`).test(u.message ?? "") && u;
      });
      assert.equal(c.reason, reason, c.message);
      return c.message ?? "";
    },
    since: () => h.device.commands.slice(h.mark),
    file: (p: string) => (existsSync(join(h.root, p)) ? readFileSync(join(h.root, p), "utf8") : undefined),
  };
  before(async () => {
    const base = join(dir, label);
    [h.root, h.dataDir] = [join(base, "root"), join(base, "data")];
    mkdirSync(base, { recursive: true });
    h.device = testDevice(base, h.root, { bootc: opts.bootc, bootedImage: "quay.io/example/os:1" });
    h.config = parseAgentConfig(await agentConfigYaml(t, admin, h.dataDir, h.root));
    await h.start();
    const first = await waitFor("the first version applied", async () => {
      const s = await h.status();
      return s.updated?.status === "UpToDate" && Number(s.config?.renderedVersion) > 0 && s;
    });
    h.version = Number(first.config!.renderedVersion);
  });
  after(async () => {
    await h.device.rebooted;
    await h.agent?.stop();
  });
  return h;
}

const spec = (conf: string, image?: string): JsonObject => ({
  config: [{ name: "files", inline: [{ path: "/etc/app.conf", content: conf }] }],
  ...(image ? { os: { image } } : {}),
});

describe("an image-mode device (bootc)", () => {
  const h = harness("image", { bootc: true });
  /** Updating conditions the service held when each reboot was asked for. */
  const atReboot: { reason?: string; message?: string }[] = [];

  before(() => {
    for (const type of ["beforeupdating", "beforerebooting", "afterrebooting", "afterupdating"])
      put(h.root, `/etc/flightctl/hooks.d/${type}/50-order.yaml`, `- run: /bin/echo ${type}\n`);
    h.device.onReboot = async () => {
      // What the service holds when the device goes away (the agent reports before it asks for the reboot); then the
      // host comes up with a new agent instance.
      atReboot.push((await h.updating()) ?? {});
      await h.agent.stop();
      await h.start();
    };
  });

  test("reports osMode image and the booted image and digest as bootc reports them", async () => {
    const s = await h.status();
    assert.equal(s.capabilities?.osMode, "image");
    const booted = h.device.bootc().booted!;
    assert.equal(s.os?.image, "quay.io/example/os:1");
    assert.equal(s.os?.imageDigest, booted.imageDigest);
  });

  test("an image that boots: switch, beforerebooting, reboot; after it afterrebooting, afterupdating, Updated", async () => {
    await h.setSpec(spec("v=2\n", "quay.io/example/os:2"));
    await h.outcome("Updated");
    await h.device.rebooted;
    assert.equal(h.device.reboots, 1);
    assert.deepEqual([atReboot[0]?.reason, atReboot[0]?.message], ["Rebooting", "Device is rebooting into OS image: quay.io/example/os:2"]);
    const order = [
      "/bin/echo beforeupdating",
      "bootc switch --transport containers-storage --retain quay.io/example/os:2",
      "/bin/echo beforerebooting",
      "reboot",
      "/bin/echo afterrebooting",
      "/bin/echo afterupdating",
    ];
    const at = order.map((c) => h.since().indexOf(c));
    assert.ok(
      at.every((i, k) => i >= 0 && (k === 0 || i > at[k - 1])),
      `expected in this order:\n${order.join("\n")}\ngot:\n${h.since().join("\n")}`,
    );
    assert.equal(h.since().filter((c) => c === "/bin/echo afterupdating").length, 1, "afterupdating runs once, after the reboot");

    const s = await h.status();
    const booted = h.device.bootc().booted!;
    assert.equal(booted.image, "quay.io/example/os:2", "the fake booted the staged image");
    assert.equal(s.os?.image, "quay.io/example/os:2");
    assert.equal(s.os?.imageDigest, booted.imageDigest);
    assert.notEqual(booted.imageDigest, h.device.bootc().rollback?.imageDigest);
    assert.equal(s.systemInfo?.bootId, "boot-2");
    assert.equal(s.config?.renderedVersion, String(h.version));
    assert.equal(h.file("/etc/app.conf"), "v=2\n");
    assert.ok(!existsSync(join(h.dataDir, "os-update.json")), "no update pending any more");
  });

  test("an image that fails to boot: the version rolls back, Error, remembered as failed and not tried again", async () => {
    h.device.failToBoot("quay.io/example/os:3");
    await h.setSpec(spec("v=3\n", "quay.io/example/os:3"));
    const message = await h.outcome("Error");
    assert.match(
      message,
      new RegExp(
        `^Failed to update to version ${h.version}: os quay\\.io/example/os:3: booted image quay\\.io/example/os:2, expected quay\\.io/example/os:3`,
      ),
    );
    await h.device.rebooted;
    assert.equal(h.device.reboots, 2);
    // The new agent saw the wrong image, said it rolls back, then rolled the config back.
    const rolling = h.lines.find((l) => l.msg === "the new OS image did not boot");
    assert.equal(rolling?.version, h.version);
    assert.ok(h.agent.specs().failed.has(h.version));
    assert.ok((JSON.parse(readFileSync(join(h.dataDir, "failed-versions.json"), "utf8")) as number[]).includes(h.version));
    let s = await h.status();
    assert.equal(s.os?.image, "quay.io/example/os:2");
    assert.equal(s.os?.imageDigest, h.device.bootc().booted!.imageDigest);
    assert.equal(s.config?.renderedVersion, String(h.version - 1));
    assert.equal(h.file("/etc/app.conf"), "v=2\n", "the previous version's config is back");

    // A restart (same boot): the service sends the version again; the agent skips it, no switch, no reboot.
    const switches = () => h.device.commands.filter((c) => c.startsWith("bootc switch") && c.endsWith("quay.io/example/os:3")).length;
    assert.equal(switches(), 1);
    const before = h.lines.length;
    await h.agent.stop();
    await h.start();
    await waitFor("the failed version skipped", async () =>
      h.lines.slice(before).some((l) => l.msg.startsWith("spec version already applied or failed before") && l.version === h.version),
    );
    assert.equal(switches(), 1);
    assert.equal(h.device.reboots, 2);
    s = await h.status();
    assert.equal(s.config?.renderedVersion, String(h.version - 1));
    assert.equal(s.os?.image, "quay.io/example/os:2");
  });
  test("an afterupdating hook that fails after the reboot: the spec and the OS image go back (a second reboot)", async () => {
    put(h.root, "/etc/flightctl/hooks.d/afterupdating/60-check.yaml", "- if: [rebooted == true]\n  run: /usr/local/bin/check-os\n");
    h.device.failOn = /check-os/;
    const reboots = h.device.reboots;
    try {
      await h.setSpec(spec("v=4\n", "quay.io/example/os:4"));
      const message = await h.outcome("Error");
      assert.match(
        message,
        new RegExp(`^Failed to update to version ${h.version}: hooks /etc/flightctl/hooks.d/afterupdating/60-check.yaml: `),
      );
      await waitFor(
        "the second reboot done",
        async () => h.device.reboots === reboots + 2 && h.device.bootc().booted?.image === "quay.io/example/os:2",
      );
      await h.device.rebooted;
      assert.ok(h.since().includes("bootc rollback"), h.since().join("\n"));
      assert.deepEqual(
        h.since().filter((c) => c === "reboot" || c.startsWith("bootc switch") || c === "bootc rollback" || c.includes("check-os")),
        [
          "bootc switch --transport containers-storage --retain quay.io/example/os:4",
          "reboot",
          "/usr/local/bin/check-os",
          "bootc rollback",
          "reboot",
        ],
      );
      const s = await waitFor("the previous image reported", async () => {
        const st = await h.status();
        return st.os?.image === "quay.io/example/os:2" && st;
      });
      assert.equal(s.os?.imageDigest, h.device.bootc().booted!.imageDigest);
      assert.equal(s.config?.renderedVersion, String(h.version - 2));
      assert.equal(h.file("/etc/app.conf"), "v=2\n");
      assert.ok(h.agent.specs().failed.has(h.version));
    } finally {
      h.device.failOn = undefined;
    }
  });
});

describe("a package-mode device (no bootc)", () => {
  const h = harness("package", { bootc: false });

  test("reports osMode package and no OS image; refuses an OS image with a clear error, changing nothing", async () => {
    let s = await h.status();
    assert.equal(s.capabilities?.osMode, "package");
    assert.equal(s.os?.image ?? "", "");
    await h.setSpec(spec("v=1\n"));
    await h.outcome("Updated");
    await h.setSpec(spec("v=2\n", "quay.io/example/os:2"));
    const message = await h.outcome("Error");
    assert.equal(
      message,
      `Failed to update to version ${h.version}: os quay.io/example/os:2: this is a package-mode device (no bootc): it cannot switch its OS to an image and keeps running its current OS`,
    );
    s = await h.status();
    assert.equal(s.config?.renderedVersion, String(h.version - 1));
    assert.equal(h.file("/etc/app.conf"), "v=1\n", "nothing of the refused version is applied");
    assert.ok(!h.device.commands.some((c) => c.startsWith("bootc") || c === "reboot"), h.device.commands.join("\n"));
    assert.ok(h.agent.specs().failed.has(h.version));
  });
});

describe("a simulated device (the simulator's host)", () => {
  let sim: Awaited<ReturnType<typeof startSimulator>>;
  let name = "";
  let version = 0;
  const agentDir = () => join(dir, "sim", `agent-${String(sim.indexes[0]).padStart(5, "0")}`);
  const bootc = () => JSON.parse(readFileSync(join(agentDir(), "bootc.json"), "utf8")) as FakeBootcState;
  const status = async () => (await devices().getDevice({ name }, auth())).status!;
  const setSpec = async (image: string) => {
    version++;
    await devices().replaceDevice(
      {
        name,
        device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name }, spec: { os: { image } } }),
      },
      auth(),
    );
  };
  const outcome = (reason: string) =>
    waitFor(`version ${version}: ${reason}`, async () => {
      const u = (await status()).conditions.find((c) => c.type === "Updating");
      return u?.status === "False" && u.reason === reason && new RegExp(`version ${version}\\b`).test(u.message ?? "") && u;
    });

  before(async () => {
    sim = await startSimulator({
      count: 1,
      config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
      baseDir: join(dir, "sim"),
      approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: admin },
      summaryIntervalMs: 0,
      log: pino({ level: "silent" }),
    });
    await sim.started();
    name = sim.agents[0].name;
    const first = await waitFor("the first version applied", async () => {
      const s = await status();
      return s.updated?.status === "UpToDate" && Number(s.config?.renderedVersion) > 0 && s;
    });
    version = Number(first.config!.renderedVersion);
  });
  after(async () => {
    await sim?.stop();
  });

  test("goes through a reboot into the new image, and back when the image fails to boot", async () => {
    const bootId = (await status()).systemInfo?.bootId;
    const first = sim.agents[0];
    await setSpec("quay.io/example/os:2");
    await outcome("Updated");
    assert.notEqual(sim.agents[0], first, "a new agent after the reboot");
    let s = await status();
    assert.equal(s.os?.image, "quay.io/example/os:2");
    assert.equal(s.os?.imageDigest, bootc().booted?.imageDigest);
    assert.notEqual(s.systemInfo?.bootId, bootId);

    writeFileSync(join(agentDir(), "bootc.json"), JSON.stringify({ ...bootc(), failToBoot: ["quay.io/example/os:3"] }));
    await setSpec("quay.io/example/os:3");
    await outcome("Error");
    s = await status();
    assert.equal(s.os?.image, "quay.io/example/os:2");
    assert.equal(bootc().rollback?.image, "quay.io/example/os:3");
    assert.ok(sim.agents[0].specs().failed.has(version));
  });
});
