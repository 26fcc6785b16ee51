// Update and download schedules (spec.updatePolicy), with a real API and a real in-process agent whose commands are
// recorded and whose clock is shifted to a chosen date a few seconds before a window opens: the download (prefetch)
// waits for the download window, the switch for the update window, and the device says what it waits for and until
// when; inside a window the update goes at once; the zone of the schedule is honoured; a newer version replaces a
// wait; a version downloaded in its window still updates after that window closed.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import pino from "pino";
import { createAgent, type Agent } from "../agent/agent.js";
import { parseAgentConfig, type AgentConfig } from "../agent/config.js";
import { recordingExecutor, type RecordingExecutor } from "../agent/host.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";

let t: TestApi;
let admin: string;
let dir: string;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const devices = () => userClient(t, DeviceService);

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-agent-schedules-"));
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

describe("an agent's update and download windows", () => {
  const root = () => join(dir, "device", "root");
  let agent: Agent;
  let exec: RecordingExecutor;
  let name: string;
  let version = 0;
  let mark = 0;
  /** The agent's clock: real time shifted so that tests start a few seconds before the window they wait for. */
  let shift = 0;
  const now = () => Date.now() + shift;
  const setClock = (iso: string) => {
    shift = Date.parse(iso) - Date.now();
  };
  /** The agent's clock at each `podman pull`, by image. */
  const pulledAt = new Map<string, number>();

  const updating = async () => (await devices().getDevice({ name }, auth())).status?.conditions.find((c) => c.type === "Updating");
  const setSpec = async (spec: JsonObject) => {
    version++;
    mark = exec.commands.length;
    await devices().replaceDevice(
      { name, device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name }, spec }) },
      auth(),
    );
  };
  /** Waits for the Updating condition of the newest version with `reason`. */
  const waiting = (reason: "Preparing" | "ReadyToUpdate") =>
    waitFor(`version ${version}: ${reason}`, async () => {
      const u = await updating();
      return u?.status === "True" && u.reason === reason && u.message?.startsWith(`Version ${version} `) && u;
    });
  const updated = () =>
    waitFor(`version ${version}: Updated`, async () => {
      const u = await updating();
      return u?.status === "False" && u.message === `Updated to version ${version}` && u;
    });
  const since = () => exec.commands.slice(mark);
  /** A spec with one config file and one application whose image the device lacks. */
  const spec = (tag: string, updatePolicy?: JsonObject): JsonObject => {
    const image = `quay.io/example/web:${tag}`;
    exec.missingImages.add(image);
    return {
      config: [{ name: "files", inline: [{ path: "/etc/web.conf", content: `tag=${tag}\n` }] }],
      applications: [{ name: "web", appType: "container", image }],
      ...(updatePolicy ? { updatePolicy } : {}),
    };
  };
  const conf = () => (existsSync(join(root(), "etc/web.conf")) ? readFileSync(join(root(), "etc/web.conf"), "utf8") : undefined);

  let config: AgentConfig;
  const startAgent = async () => {
    agent = createAgent({
      config,
      log: pino({ level: "silent" }),
      exec,
      now,
      console: { enabled: false },
      onEnrollmentRequested: async (n) => {
        await userClient(t, EnrollmentRequestService).approveEnrollmentRequest({ name: n, approval: { approved: true } }, auth());
      },
    });
    await agent.start();
    name = agent.name;
  };

  before(async () => {
    const recording = recordingExecutor();
    exec = recording;
    const run = recording.run.bind(recording);
    recording.run = async (cmd, args, o) => {
      if (cmd === "podman" && args[0] === "pull") pulledAt.set(args[1], now());
      return run(cmd, args, o);
    };
    config = parseAgentConfig(await agentConfigYaml(t, admin, join(dir, "device", "data"), root()));
    mkdirSync(join(root(), "proc/sys/kernel/random"), { recursive: true });
    writeFileSync(join(root(), "proc/sys/kernel/random/boot_id"), "boot-1\n");
    await startAgent();
    const first = await waitFor("the first version applied", async () => {
      const s = (await devices().getDevice({ name }, auth())).status;
      return s?.updated?.status === "UpToDate" && Number(s.config?.renderedVersion) > 0 && s;
    });
    version = Number(first.config!.renderedVersion);
  });

  after(async () => {
    await agent?.stop();
  });

  test("a download window in the future delays the prefetch until it opens", async () => {
    setClock("2026-03-10T02:59:57Z");
    await setSpec(spec("1", { downloadSchedule: { at: "0 3 * * *", timeZone: "UTC", startGraceDuration: "30m" } }));
    const u = await waiting("Preparing");
    assert.match(u.message!, /download window opens at 2026-03-10 03:00 UTC \(2026-03-10T03:00:00\.000Z/);
    const device = await devices().getDevice({ name }, auth());
    assert.equal(device.status?.updated?.status, "Updating");
    assert.match(device.status?.updated?.info ?? "", /opens at 2026-03-10 03:00 UTC/, "the device's update status says until when");
    assert.ok(!since().some((c) => c.includes("quay.io/example/web:1")), `nothing downloaded before the window:\n${since().join("\n")}`);
    assert.equal(conf(), undefined, "nothing applied");

    await updated();
    assert.ok(pulledAt.get("quay.io/example/web:1")! >= Date.parse("2026-03-10T03:00:00Z"), "pulled once the window opened");
    assert.equal(conf(), "tag=1\n");
  });

  test("an update window in the future: downloaded at once, the switch held (ReadyToUpdate until <time>), then applied", async () => {
    setClock("2026-03-10T21:59:57Z");
    await setSpec(spec("2", { updateSchedule: { at: "0 22 * * *", timeZone: "UTC", startGraceDuration: "1h" } }));
    const u = await waiting("ReadyToUpdate");
    assert.match(u.message!, /update window opens at 2026-03-10 22:00 UTC \(2026-03-10T22:00:00\.000Z; updateSchedule "0 22 \* \* \*"/);
    assert.ok(pulledAt.get("quay.io/example/web:2")! < Date.parse("2026-03-10T22:00:00Z"), "the download is not held");
    assert.equal(conf(), "tag=1\n", "the switch is held");
    assert.ok(
      !since().some((c) => c.startsWith("podman") && c.includes("web") && !/^podman (pull|image exists)/.test(c)),
      since().join("\n"),
    );

    await updated();
    assert.equal(conf(), "tag=2\n");
  });

  test("inside a window the update goes at once; past its grace it waits for the next day; a newer version replaces the wait", async () => {
    setClock("2026-03-10T22:10:00Z");
    await setSpec(spec("3", { updateSchedule: { at: "0 22 * * *", timeZone: "UTC", startGraceDuration: "1h" } }));
    await updated();
    assert.equal(conf(), "tag=3\n");

    setClock("2026-03-10T23:30:00Z");
    await setSpec(spec("4", { updateSchedule: { at: "0 22 * * *", timeZone: "UTC", startGraceDuration: "1h" } }));
    const u = await waiting("ReadyToUpdate");
    assert.match(u.message!, /opens at 2026-03-11 22:00 UTC/);
    assert.equal(conf(), "tag=3\n");

    await setSpec(spec("5"));
    await updated();
    assert.equal(conf(), "tag=5\n");
  });

  test("the schedule's time zone is honoured (03:00 in Tokyo is 18:00 UTC)", async () => {
    setClock("2026-03-10T17:59:57Z");
    await setSpec(spec("6", { updateSchedule: { at: "0 3 * * *", timeZone: "Asia/Tokyo", startGraceDuration: "10m" } }));
    const u = await waiting("ReadyToUpdate");
    assert.match(u.message!, /opens at 2026-03-11 03:00 Asia\/Tokyo \(2026-03-10T18:00:00\.000Z/);
    assert.equal(conf(), "tag=5\n");
    await updated();
    assert.equal(conf(), "tag=6\n");
  });

  test("a version downloaded in its download window updates in its update window after the download window closed", async () => {
    // The download window is [01:00, 01:01); the update window opens at 01:01, when the download window has closed.
    setClock("2026-03-10T01:00:57Z");
    await setSpec(
      spec("7", {
        downloadSchedule: { at: "0 1 * * *", timeZone: "UTC", startGraceDuration: "1m" },
        updateSchedule: { at: "1 1 * * *", timeZone: "UTC", startGraceDuration: "10m" },
      }),
    );
    await waiting("ReadyToUpdate");
    assert.ok(pulledAt.has("quay.io/example/web:7"));
    await updated();
    assert.equal(conf(), "tag=7\n");
  });

  test("that memory survives an agent restart", async () => {
    setClock("2026-03-10T01:00:57Z");
    await setSpec(
      spec("8", {
        downloadSchedule: { at: "0 1 * * *", timeZone: "UTC", startGraceDuration: "1m" },
        updateSchedule: { at: "0 2 * * *", timeZone: "UTC", startGraceDuration: "10m" },
      }),
    );
    await waiting("ReadyToUpdate");
    await agent.stop();
    // Restarted inside the update window, the download window long closed: it updates, without a second download.
    setClock("2026-03-10T02:05:00Z");
    const pulls = exec.commands.filter((c) => c.startsWith("podman pull")).length;
    await startAgent();
    await updated();
    assert.equal(conf(), "tag=8\n");
    assert.equal(exec.commands.filter((c) => c.startsWith("podman pull")).length, pulls);
  });
});
