// Applications on real podman, end to end: a real agent process with its real executor (podman-compose, podman
// events/ps) against a real API, on a podman whose configuration and storage are the test's own (PodmanEnv), with the
// app's image pulled from a local registry. What the device reports is checked against what podman runs:
//   - a compose app of two containers comes up and is reported Running 2/2, applications Healthy;
//   - `podman kill` of one container is reported (flightctl: one of two running → app Running 1/2, applications
//     Degraded, event DeviceApplicationDegraded), and when it runs again, Running 2/2 and DeviceApplicationHealthy;
//   - stop, start and restart through the API (DeviceService Stop/Start/RestartDeviceApplication) change what podman
//     runs, and the reported status follows.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { stringify } from "yaml";
import type { Device } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { COMPOSE_PROJECT_LABEL } from "../agent/apps/labels.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";
import { createNetwork } from "./helpers/podman-network.js";

/** How long the agent may take to report what podman did (its status interval is 2 s; events come sooner). */
const REPORT_MS = 30_000;
const NETWORK = "e2e-apps";

let t: TestApi;
let admin: string;
let dir: string;
let registry: OciRegistry;
let podman: PodmanEnv;
let removeBridge: () => Promise<void> = async () => {};
let agent: ChildProcess | undefined;
let image: string;
/** The agent's log (its warnings and errors are also shown as they come). */
let output = "";
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const devices = () => userClient(t, DeviceService);

before(async () => {
  // One at a time, so that `after` closes whatever started when a later step fails.
  registry = await startOciRegistry();
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-podman-e2e-"));
  podman = await startPodmanEnv({ insecureRegistries: [registry.host] });
  // Its own bridge and subnet: other tests' podman storages on this machine create networks too.
  removeBridge = await createNetwork(podman, NETWORK, `fce2e${process.pid % 100_000}`, `10.125.${process.pid % 250}.0/24`);
  image = `${registry.host}/e2e/app:1`;
  await podman.buildImage("localhost/e2e-app:1", { files: { "/index.html": "e2e\n" } });
  await podman.pushImage("localhost/e2e-app:1", image);
  // The agent pulls it from the registry, as a device would.
  await podman.ok(["rmi", image, "localhost/e2e-app:1"]);
});

after(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    const exited = new Promise((r) => agent!.once("exit", r));
    agent.kill("SIGTERM");
    const kill = setTimeout(() => agent!.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(kill);
  }
  await podman?.close();
  await removeBridge();
  await registry?.close();
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

/** `cmd` under a shell that exits on SIGTERM (busybox as PID 1 ignores it: every stop would wait out the grace time). */
const onTerm = (cmd: string) => ["/bin/sh", "-c", `trap 'exit 0' TERM; ${cmd} & wait`];

const COMPOSE = () =>
  stringify({
    services: {
      sleeper: { image, command: onTerm("sleep 100000") },
      server: { image, command: onTerm("httpd -f -p 8080 -h /") },
    },
    networks: { default: { name: NETWORK } },
  });

interface Container {
  id: string;
  name: string;
  state: string;
  startedAt: string;
}

/** The app's containers as podman has them (every compose container in this storage is the agent's). */
async function containers(): Promise<Container[]> {
  const out = await podman.ok(["ps", "-a", "--filter", `label=${COMPOSE_PROJECT_LABEL}`, "--format", "json"]);
  const list = JSON.parse(out || "[]") as { Id: string; Names: string[]; State: string }[];
  return Promise.all(
    list.map(async (c) => ({
      id: c.Id,
      name: c.Names[0],
      state: c.State,
      startedAt: (await podman.ok(["inspect", "--format", "{{.State.StartedAt}}", c.Id])).trim(),
    })),
  );
}
const running = async () => (await containers()).filter((c) => c.state === "running");

describe("applications on real podman", () => {
  let name: string;
  const device = async (): Promise<Device> => devices().getDevice({ name }, auth());
  const app = (d: Device) => d.status?.applications.find((a) => a.name === "web");
  /** Waits until the device reports `want` for app web; the timeout message says what it reports and podman runs. */
  const reported = async (what: string, want: (d: Device) => boolean) => {
    let last: Device | undefined;
    try {
      return await waitFor(
        what,
        async () => {
          last = await device();
          return want(last) && last;
        },
        REPORT_MS,
      );
    } catch (e) {
      const a = last && app(last);
      const conds = last?.status?.conditions.map((c) => `${c.type}=${c.reason}: ${c.message ?? ""}`).join("; ");
      const ps = (await containers().catch(() => [])).map((c) => `${c.name} ${c.state}`).join(", ");
      throw new Error(
        `${(e as Error).message}; the device reports app web ${a ? `${a.status} ${a.ready} restarts ${a.restarts}` : "absent"}, ` +
          `applications ${last?.status?.applicationsSummary?.status}, conditions ${conds}; podman runs: ${ps || "nothing"}`,
      );
    }
  };
  const events = async (reason: string) =>
    (await userClient(t, EventService).listEvents({ options: { fieldSelector: `involvedObject.name=${name},reason=${reason}` } }, auth()))
      .items;

  test("an agent process with the real executor enrolls", async () => {
    writeFileSync(join(dir, "config.yaml"), await agentConfigYaml(t, admin, join(dir, "data"), join(dir, "root")));
    agent = spawn(process.execPath, ["--import", "tsx", "agent/main.ts", "run", "--config", join(dir, "config.yaml")], {
      env: { ...process.env, ...podman.env, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    agent.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output = (output + chunk).slice(-200_000);
      for (const line of chunk.split("\n")) if (/"level":[456]0/.test(line)) process.stdout.write(`${line}\n`);
    });
    const ers = userClient(t, EnrollmentRequestService);
    const er = await waitFor("the enrollment request", async () => (await ers.listEnrollmentRequests({}, auth())).items[0]);
    name = er.metadata!.name!;
    await ers.approveEnrollmentRequest({ name, approval: { approved: true, labels: { role: "podman-e2e" } } }, auth());
    await waitFor("the device online", async () => (await device()).status?.summary?.status === "Online");
  });

  test("a compose app of two containers comes up and is reported Running 2/2", async () => {
    await devices().patchDevice(
      {
        name,
        patch: [
          {
            op: "add",
            path: "/spec/applications",
            value: fromJson(ValueSchema, [
              { name: "web", appType: "compose", inline: [{ path: "docker-compose.yaml", content: COMPOSE() }] },
            ]),
          },
        ],
      },
      auth(),
    );
    const d = await reported("web Running 2/2, applications Healthy", (d) => {
      const a = app(d);
      return a?.status === "Running" && a.ready === "2/2" && d.status?.applicationsSummary?.status === "Healthy";
    });
    assert.equal(app(d)?.appType, "compose");
    assert.equal(d.status?.updated?.status, "UpToDate");
    // What podman runs: both services, from the registry's image, in one compose project.
    const cs = await running();
    assert.equal(cs.length, 2, `two running containers: ${JSON.stringify(cs)}`);
    const projects = new Set(
      await Promise.all(
        cs.map(async (c) => (await podman.ok(["inspect", "--format", `{{index .Config.Labels "${COMPOSE_PROJECT_LABEL}"}}`, c.id])).trim()),
      ),
    );
    assert.equal(projects.size, 1, "one compose project");
    for (const c of cs) assert.equal((await podman.ok(["inspect", "--format", "{{.ImageName}}", c.id])).trim(), image);
  });

  test("podman kill of one container is reported Degraded, then Running when it runs again, with the events", async () => {
    const [victim] = (await running()).sort((a, b) => a.name.localeCompare(b.name));
    assert.ok(victim, "the app's containers run");
    // The bring-up may have passed through Degraded already (podman-compose starts one container after the other).
    const [degraded0, healthy0] = [(await events("DeviceApplicationDegraded")).length, (await events("DeviceApplicationHealthy")).length];
    await podman.ok(["kill", victim.id]);
    // flightctl: one of two containers running (the other died) → the app is Running 1/2, the device's
    // applications Degraded.
    await reported(
      "web 1/2, applications Degraded",
      (d) => app(d)?.ready === "1/2" && d.status?.applicationsSummary?.status === "Degraded",
    );
    await waitFor(
      "a DeviceApplicationDegraded event",
      async () => (await events("DeviceApplicationDegraded")).length > degraded0,
      REPORT_MS,
    );
    await podman.ok(["start", victim.id]);
    await reported("web Running 2/2, applications Healthy again", (d) => {
      const a = app(d);
      return a?.status === "Running" && a.ready === "2/2" && d.status?.applicationsSummary?.status === "Healthy";
    });
    await waitFor("a DeviceApplicationHealthy event", async () => (await events("DeviceApplicationHealthy")).length > healthy0, REPORT_MS);
  });

  test("stop, start and restart through the API change what podman runs", async () => {
    await devices().stopDeviceApplication({ name, appName: "web" }, auth());
    await reported("web Stopped", (d) => app(d)?.status === "Stopped");
    assert.deepEqual(await running(), [], "nothing of the app runs once it is reported Stopped");

    await devices().startDeviceApplication({ name, appName: "web" }, auth());
    await reported("web Running 2/2 after start", (d) => app(d)?.status === "Running" && app(d)?.ready === "2/2");
    const before = await running();
    assert.equal(before.length, 2);

    await devices().restartDeviceApplication({ name, appName: "web" }, auth());
    // A restart starts each container again (new start time, or a new container), then it is reported Running.
    await waitFor(
      "both containers started again by the restart",
      async () => {
        const now = await running();
        return (
          now.length === 2 &&
          now.every((c) => {
            const was = before.find((b) => b.name === c.name);
            return !was || was.id !== c.id || was.startedAt !== c.startedAt;
          })
        );
      },
      REPORT_MS,
    );
    await reported("web Running 2/2 after restart", (d) => app(d)?.status === "Running" && app(d)?.ready === "2/2");
    assert.equal(agent?.exitCode, null, "the agent is still running");
  });
});
