// Devices end to end on real sockets: a real agent process enrolls, is approved, receives a config file over its
// rendered-device stream and reports UpToDate; a spec whose application cannot start is rolled back with an Error
// condition; a conf.d drop-in from the spec makes the default afterupdating hook reload it. Then 100 simulated agents
// keep streaming while the API restarts and all reach the newest version.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import pino from "pino";
import { enqueueRenders } from "../server/jobs/queues.js";
import { createDb } from "../server/platform/db.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml as agentConfigYaml_, userClient, waitFor } from "./helpers/agents.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";
import { connectAgent } from "../agent/clients.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";

let t: TestApi;
let admin: string;
let dir: string;
/** The real agent's podman: its own configuration and storage, never the machine's. */
let podman: PodmanEnv;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-agent-"));
  podman = await startPodmanEnv();
});

after(async () => {
  await t.close();
  await podman?.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const user = <S extends Parameters<typeof createClient>[0]>(s: S) => userClient(t, s);
const agentConfigYaml = (dataDir: string, rootDir: string) => agentConfigYaml_(t, admin, dataDir, rootDir);

describe("a real agent process", () => {
  let agent: ChildProcess;
  let name: string;
  /** Its info-level log (warnings and errors are also shown as they come). */
  let output = "";
  const root = () => join(dir, "root");

  after(() => {
    agent?.kill("SIGTERM");
  });

  test("enrolls, is approved, and reports its status", async () => {
    writeFileSync(join(dir, "config.yaml"), await agentConfigYaml(join(dir, "data"), root()));
    agent = spawn(process.execPath, ["--import", "tsx", "agent/main.ts", "run", "--config", join(dir, "config.yaml")], {
      env: { ...process.env, ...podman.env, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    agent.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
      for (const line of chunk.split("\n")) if (/"level":[456]0/.test(line)) process.stdout.write(`${line}\n`);
    });
    const ers = user(EnrollmentRequestService);
    const er = await waitFor("the enrollment request", async () => (await ers.listEnrollmentRequests({}, auth())).items[0]);
    name = er.metadata!.name!;
    assert.equal(er.spec?.labels.site, "lab");
    await ers.approveEnrollmentRequest({ name, approval: { approved: true, labels: { role: "e2e" } } }, auth());
    const dev = await waitFor("an online, up-to-date device", async () => {
      const d = await user(DeviceService).getDevice({ name }, auth());
      return d.status?.summary?.status === "Online" && d.status.updated?.status === "UpToDate" && d;
    });
    assert.equal(dev.status?.lifecycle?.status, "Enrolled");
    assert.equal(dev.status?.config?.renderedVersion, "1");
  });

  test("a config file set on the device appears under the agent's root with its mode, then UpToDate", async () => {
    const devices = user(DeviceService);
    const d = await devices.getDevice({ name }, auth());
    await devices.replaceDevice(
      {
        name,
        device: {
          apiVersion: "flightctl.io/v1beta1",
          kind: "Device",
          metadata: { name, labels: d.metadata!.labels },
          spec: { config: [{ name: "motd", inline: [{ path: "/etc/motd", content: "hello from the fleet\n", mode: 0o600 }] }] },
        },
      },
      auth(),
    );
    const file = join(root(), "etc", "motd");
    await waitFor("/etc/motd on the device", async () => existsSync(file));
    assert.equal(readFileSync(file, "utf8"), "hello from the fleet\n");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await waitFor("UpToDate at version 2", async () => {
      const s = (await devices.getDevice({ name }, auth())).status;
      return s?.updated?.status === "UpToDate" && s.config?.renderedVersion === "2";
    });
  });

  test("a spec whose application cannot start is rolled back with an Error condition", async () => {
    const devices = user(DeviceService);
    const d = await devices.getDevice({ name }, auth());
    // The app's image is in no registry the agent reaches: its pull fails, as a broken application would on a device.
    await devices.patchDevice(
      {
        name,
        patch: [
          {
            op: "add",
            path: "/spec/applications",
            value: fromJson(ValueSchema, [
              {
                name: "web",
                appType: "compose",
                inline: [{ path: "docker-compose.yaml", content: "services: {web: {image: quay.io/example/web:1}}\n" }],
              },
            ]),
          },
          { op: "replace", path: "/spec/config/0/inline/0/content", value: fromJson(ValueSchema, "version three\n") },
        ],
      },
      auth(),
    );
    assert.ok(d);
    const status = await waitFor("the update to fail", async () => {
      const s = (await devices.getDevice({ name }, auth())).status;
      const c = s?.conditions.find((x) => x.type === "Updating");
      return c?.reason === "Error" && s;
    });
    assert.match(status.conditions.find((x) => x.type === "Updating")!.message!, /Failed to update to version 3: apps web/);
    assert.equal(status.config?.renderedVersion, "2");
    assert.equal(status.updated?.status, "OutOfDate");
    // The previous version's file is back in place.
    assert.equal(readFileSync(join(root(), "etc", "motd"), "utf8"), "hello from the fleet\n");
    const events = await user(EventService).listEvents(
      { options: { fieldSelector: `involvedObject.name=${name},reason=DeviceUpdateFailed` } },
      auth(),
    );
    assert.equal(events.items.length, 1);
  });

  test("its certificate cannot watch another device's stream", async () => {
    const cfg = parseAgentConfig(readFileSync(join(dir, "config.yaml"), "utf8"));
    const clients = connectAgent(
      cfg.server,
      cfg.caPem,
      readFileSync(join(dir, "data", "certs", "agent.crt"), "utf8"),
      readFileSync(join(dir, "data", "certs", "agent.key"), "utf8"),
    );
    try {
      const stream = clients.device.watchRenderedDevice({ name: "someone-else", knownRenderedVersion: "0" });
      await assert.rejects(
        (async () => {
          for await (const _ of stream) break;
        })(),
        (e: ConnectError) => e.code === Code.PermissionDenied,
      );
      const own = await clients.device.getRenderedDevice({ name, knownRenderedVersion: "0", waitSeconds: 0 });
      assert.equal(own.device?.metadata?.annotations["device-controller/renderedVersion"], "3");
      // The agent's plain gRPC stream is served below Connect; Connect JSON clients get the same stream from Connect.
      const first = async (client: typeof clients.device) => {
        const ac = new AbortController();
        for await (const m of client.watchRenderedDevice({ name, knownRenderedVersion: "1" }, { signal: ac.signal })) {
          ac.abort();
          return m;
        }
      };
      const viaConnect = createClient(
        AgentDeviceService,
        createConnectTransport({
          baseUrl: cfg.server,
          httpVersion: "2",
          useBinaryFormat: false,
          nodeOptions: {
            ca: cfg.caPem,
            cert: readFileSync(join(dir, "data", "certs", "agent.crt"), "utf8"),
            key: readFileSync(join(dir, "data", "certs", "agent.key"), "utf8"),
          },
        }),
      );
      const [grpcMsg, connectMsg] = [await first(clients.device), await first(viaConnect)];
      assert.ok(grpcMsg?.device);
      assert.deepEqual(connectMsg, grpcMsg);
      assert.equal(grpcMsg.device.metadata?.annotations["device-controller/renderedVersion"], "3");
    } finally {
      clients.close();
    }
  });

  test("a spec changing /etc/flightctl/conf.d/ makes the default hook reload the agent, which carries on", async () => {
    const devices = user(DeviceService);
    const d = await devices.getDevice({ name }, auth());
    const setFiles = (inline: { path: string; content: string }[]) =>
      devices.replaceDevice(
        {
          name,
          device: {
            apiVersion: "flightctl.io/v1beta1",
            kind: "Device",
            metadata: { name, labels: d.metadata!.labels },
            spec: { config: [{ name: "c", inline }] },
          },
        },
        auth(),
      );
    const upToDate = (version: string) =>
      waitFor(`UpToDate at version ${version}`, async () => {
        const s = (await devices.getDevice({ name }, auth())).status;
        return s?.updated?.status === "UpToDate" && s.config?.renderedVersion === version;
      });
    const dropIn = { path: "/etc/flightctl/conf.d/10-extra.yaml", content: "status-update-interval: 2s\n" };
    await setFiles([dropIn]);
    await upToDate("4");
    await waitFor("the SIGHUP reload in the agent's log", async () => output.includes("SIGHUP: reloading the configuration"));
    assert.equal(agent.exitCode, null, "SIGHUP does not end the agent");
    await setFiles([dropIn, { path: "/etc/motd", content: "after the reload\n" }]);
    await upToDate("5");
    assert.equal(readFileSync(join(root(), "etc", "motd"), "utf8"), "after the reload\n");
  });
});

describe("100 simulated agents across an API restart", () => {
  test("every agent resumes its stream and reaches the newest version; statuses are not lost", async () => {
    const simDir = join(dir, "sim");
    const installer = await t.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
    const config = parseAgentConfig(await agentConfigYaml("/unused", "/unused"));
    const sim = await startSimulator({
      count: 100,
      config,
      baseDir: simDir,
      labels: { fleet: "sim" },
      approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer },
      log: pino({ level: "silent" }),
    });
    try {
      await sim.started();
      const devices = user(DeviceService);
      const setFile = async (content: string) => {
        const list = await devices.listDevices({ options: { labelSelector: "fleet=sim" } }, auth());
        assert.equal(list.items.length, 100);
        await Promise.all(
          list.items.map((d) =>
            devices.replaceDevice(
              {
                name: d.metadata!.name!,
                device: {
                  apiVersion: "v1beta1",
                  kind: "Device",
                  metadata: { name: d.metadata!.name!, labels: d.metadata!.labels },
                  spec: { config: [{ name: "c", inline: [{ path: "/etc/sim.conf", content }] }] },
                },
              },
              auth(),
            ),
          ),
        );
      };
      const allAt = (version: string) =>
        waitFor(
          `all 100 devices at version ${version}`,
          async () => {
            const list = await devices.listDevices(
              { options: { labelSelector: "fleet=sim", fieldSelector: "status.updated.status=UpToDate" } },
              auth(),
            );
            return list.items.length === 100 && list.items.every((d) => d.status?.config?.renderedVersion === version);
          },
          60_000,
        );
      await setFile("one\n");
      await allAt("2");

      // Restart the API on the same ports while every agent holds its stream.
      const ports = { port: t.api.port, agentPort: t.api.agentPort };
      await t.api.close();
      await setFileDirect(t, "two\n");
      t.api = (await startTestApi({ reuse: { db: t.db, dataDir: t.dataDir, issuer: t.issuer }, heartbeatMs: 1000, ...ports })).api;
      await allAt("3");
      const contents = sim.hosts.map((h) => String(h.read("/etc/sim.conf")));
      assert.ok(contents.every((c) => c === "two\n"));
      assert.ok(sim.counts.connected >= 200, `reconnects: ${sim.counts.connected}`);
    } finally {
      await sim.stop();
    }
  });
});

/** Changes every simulated device's spec in the database while no API runs (the worker renders it). */
async function setFileDirect(api: TestApi, content: string) {
  await api.db.pool.query(
    `update devices set spec = jsonb_build_object('config', jsonb_build_array(jsonb_build_object('name', 'c', 'inline', jsonb_build_array(jsonb_build_object('path', '/etc/sim.conf', 'content', $1::text))))),
       generation = generation + 1, resource_version = nextval('resource_version_seq') where labels->>'fleet' = 'sim'`,
    [content],
  );
  const rows = (await api.db.pool.query(`select org_id, name from devices where labels->>'fleet' = 'sim'`)).rows as {
    org_id: string;
    name: string;
  }[];
  await enqueueRenders(
    createDb(api.db.pool),
    rows[0].org_id,
    rows.map((r) => r.name),
  );
}

describe("two API replicas", () => {
  test("a spec written through one replica reaches agents streaming from the other (LISTEN/NOTIFY)", async () => {
    const other = await startTestApi({ reuse: { db: t.db, dataDir: t.dataDir, issuer: t.issuer } });
    const installer = await t.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
    const sim = await startSimulator({
      count: 5,
      config: parseAgentConfig(await agentConfigYaml("/unused", "/unused")),
      baseDir: join(dir, "replicas"),
      labels: { fleet: "replicas" },
      approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer },
      log: pino({ level: "silent" }),
    });
    try {
      await sim.started();
      // Written through the second replica; the agents stream from the first.
      const viaOther = createClient(
        DeviceService,
        createGrpcTransport({ baseUrl: `https://localhost:${other.api.port}`, nodeOptions: { ca: readFileSync(t.api.caPath) } }),
      );
      const list = await viaOther.listDevices({ options: { labelSelector: "fleet=replicas" } }, auth());
      assert.equal(list.items.length, 5);
      for (const d of list.items) {
        await viaOther.replaceDevice(
          {
            name: d.metadata!.name!,
            device: {
              apiVersion: "v1beta1",
              kind: "Device",
              metadata: { name: d.metadata!.name!, labels: d.metadata!.labels },
              spec: { config: [{ name: "c", inline: [{ path: "/etc/replica.conf", content: "x\n" }] }] },
            },
          },
          auth(),
        );
      }
      await waitFor("all 5 files", async () => sim.hosts.every((h) => h.exists("/etc/replica.conf")));
    } finally {
      await sim.stop();
      await other.api.close();
    }
  });
});
