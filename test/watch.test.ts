// Watch streams over real sockets: the initial list then live changes (including a real simulated agent's status),
// deletions, selectors, exact resume (deletions included) and "too old", two API processes on one database, other
// organizations, and selector errors.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import pg from "pg";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { startApi, type RunningApi } from "../server/main/api.js";
import { createLogger } from "../lib/logger.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";

let t: TestApi;
let admin: string;
let dir: string;
const auth = (token = admin) => ({ headers: { authorization: `Bearer ${token}` } });

before(async () => {
  t = await startTestApi({ worker: true, heartbeatMs: 1000, watchBookmarkMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-watch-"));
});

after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

interface Msg {
  type: string;
  name?: string;
  resourceVersion: string;
  object?: unknown;
}

/**
 * Reads a watch stream in the background into `messages`; `until` waits for a predicate over them; `close` ends it.
 * Messages are reduced to type, name and version (BOOKMARKs are kept apart).
 */
function collect(
  stream: AsyncIterable<{ type: string; resourceVersion: string; object?: { metadata?: { name?: string } } }>,
  ac: AbortController,
) {
  const messages: Msg[] = [];
  const bookmarks: Msg[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const m of stream) {
        const msg = { type: m.type, name: m.object?.metadata?.name, resourceVersion: m.resourceVersion, object: m.object };
        (m.type === "BOOKMARK" ? bookmarks : messages).push(msg);
      }
    } catch (e) {
      if (!ac.signal.aborted) error = e;
    }
  })();
  return {
    messages,
    bookmarks,
    get error() {
      return error;
    },
    until: (what: string, fn: (m: Msg[]) => boolean, timeoutMs = 20_000) =>
      waitFor(
        what,
        async () => {
          if (error) throw error;
          return fn(messages);
        },
        timeoutMs,
      ),
    async close() {
      ac.abort();
      await done;
    },
  };
}

const devices = () => userClient(t, DeviceService);
const device = (name: string, labels: Record<string, string> = {}) => ({
  apiVersion: "flightctl.io/v1beta1",
  kind: "Device",
  metadata: { name, labels },
  spec: {},
});
const watchDevices = (
  req: { labelSelector?: string; fieldSelector?: string; resourceVersion?: string } = {},
  token = admin,
  api: { port: number; caPath: string } = t.api,
) => {
  const ac = new AbortController();
  const client = createClient(
    DeviceService,
    createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca: readFileSync(api.caPath) } }),
  );
  return collect(client.watchDevices(req, { ...auth(token), signal: ac.signal }), ac);
};
const summary = (m: Msg[]) => m.map((x) => `${x.type} ${x.name ?? ""}`.trim());

describe("WatchDevices", () => {
  test("lists current devices as ADDED, then SYNCED, then MODIFIED and DELETED as they happen", async () => {
    await devices().createDevice({ device: device("w1", { env: "a" }) }, auth());
    await devices().createDevice({ device: device("w2", { env: "b" }) }, auth());
    const w = watchDevices();
    try {
      await w.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      assert.deepEqual(summary(w.messages), ["ADDED w1", "ADDED w2", "SYNCED"]);
      await devices().patchDevice(
        { name: "w1", patch: [{ op: "add", path: "/metadata/labels/x", value: fromJson(ValueSchema, "1") }] },
        auth(),
      );
      await devices().deleteDevice({ name: "w2" }, auth());
      await devices().createDevice({ device: device("w3") }, auth());
      await w.until("three changes", (m) => m.length >= 6);
      assert.deepEqual(summary(w.messages).slice(3), ["MODIFIED w1", "DELETED w2", "ADDED w3"]);
      const versions = w.messages.slice(2).map((x) => Number(x.resourceVersion));
      assert.deepEqual(
        [...versions].sort((a, b) => a - b),
        versions,
        "versions only grow",
      );
      // Idle: bookmarks (every second in this test) carry the stream's position.
      const seen = w.bookmarks.length;
      await waitFor("a bookmark", async () => w.bookmarks.length > seen);
      assert.ok(Number(w.bookmarks.at(-1)!.resourceVersion) >= versions.at(-1)!);
    } finally {
      await w.close();
    }
  });

  test("selectors filter; an object leaving the selection is DELETED, one entering it ADDED", async () => {
    await devices().createDevice({ device: device("s1", { tier: "edge" }) }, auth());
    await devices().createDevice({ device: device("s2", { tier: "core" }) }, auth());
    const w = watchDevices({ labelSelector: "tier=edge" });
    try {
      await w.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      assert.deepEqual(summary(w.messages), ["ADDED s1", "SYNCED"]);
      await devices().replaceDevice({ name: "s2", device: device("s2", { tier: "edge" }) }, auth());
      await devices().replaceDevice({ name: "s1", device: device("s1", { tier: "core" }) }, auth());
      await devices().replaceDevice({ name: "s1", device: device("s1", { tier: "core", more: "x" }) }, auth());
      await devices().createDevice({ device: device("s3", { tier: "core" }) }, auth());
      await devices().createDevice({ device: device("s4", { tier: "edge" }) }, auth());
      await w.until("s4", (m) => m.some((x) => x.name === "s4"));
      assert.deepEqual(summary(w.messages).slice(2), ["ADDED s2", "DELETED s1", "ADDED s4"]);
    } finally {
      await w.close();
    }
  });

  test("a bad selector or version is InvalidArgument naming it; a version older than the kept deletions is FailedPrecondition", async () => {
    const expectError = async (req: Parameters<typeof watchDevices>[0], code: Code, re: RegExp) => {
      const w = watchDevices(req);
      await waitFor("the error", async () => w.error !== undefined);
      const e = ConnectError.from(w.error);
      assert.equal(e.code, code, e.message);
      assert.match(e.rawMessage, re);
      await w.close();
    };
    await expectError({ labelSelector: "tier in (a" }, Code.InvalidArgument, /labelSelector/);
    await expectError({ fieldSelector: "spec.nope=1" }, Code.InvalidArgument, /fieldSelector/);
    await expectError({ resourceVersion: "abc" }, Code.InvalidArgument, /resourceVersion/);
    // Pruning past a version makes resuming there impossible.
    const pool = new pg.Pool({ connectionString: t.db.url });
    try {
      const { rows } = await pool.query("select last_value::text as v from resource_version_seq");
      await pool.query("update watch_state set pruned_rv = $1", [rows[0].v]);
      await expectError({ resourceVersion: "1" }, Code.FailedPrecondition, /resource version too old, list again/);
    } finally {
      await pool.end();
    }
  });

  test("resuming after a version delivers exactly the missed changes, deletions included", async () => {
    await devices().createDevice({ device: device("r1") }, auth());
    await devices().createDevice({ device: device("r2") }, auth());
    const first = watchDevices({ labelSelector: "!tier" });
    let resumeAt: string;
    try {
      await first.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      resumeAt = w0(first.messages);
    } finally {
      await first.close();
    }
    // While nobody watches: a change, a deletion, a creation.
    await devices().replaceDevice({ name: "r1", device: device("r1", { seen: "no" }) }, auth());
    await devices().deleteDevice({ name: "r2" }, auth());
    await devices().createDevice({ device: device("r3") }, auth());
    const again = watchDevices({ labelSelector: "!tier", resourceVersion: resumeAt });
    try {
      await again.until("the missed changes", (m) => m.some((x) => x.name === "r3"));
      await devices().replaceDevice({ name: "r3", device: device("r3", { later: "yes" }) }, auth());
      await again.until("a live change", (m) => m.filter((x) => x.name === "r3").length === 2);
      const missed = summary(again.messages).filter((x) => /r[123]$/.test(x));
      assert.deepEqual(missed, ["MODIFIED r1", "DELETED r2", "ADDED r3", "MODIFIED r3"]);
    } finally {
      await again.close();
    }
  });

  test("a simulated agent's status reports reach watchers as MODIFIED", async () => {
    const installer = await t.issuer.token("inst", { roles: ["flightctl-installer"], organizations: ["default"] });
    const sim = await startSimulator({
      count: 1,
      config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
      baseDir: join(dir, "sim"),
      labels: { fleet: "watchsim" },
      approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer },
      log: pino({ level: "silent" }),
    });
    const w = watchDevices({ labelSelector: "fleet=watchsim" });
    try {
      await sim.started();
      type Status = { status?: { summary?: { status?: string }; config?: { renderedVersion?: string }; updated?: { status?: string } } };
      const statusOf = (x: Msg) => (x.object as Status | undefined)?.status;
      await w.until("the device Online", (m) => m.some((x) => statusOf(x)?.summary?.status === "Online"));
      // A new spec: the agent applies it and reports; the watcher sees the report (rendered version 2).
      const name = w.messages.find((x) => x.name)!.name!;
      const d = await devices().getDevice({ name }, auth());
      await devices().replaceDevice(
        {
          name,
          device: {
            ...device(name, d.metadata!.labels),
            spec: { config: [{ name: "c", inline: [{ path: "/etc/w.conf", content: "x" }] }] },
          } as never,
        },
        auth(),
      );
      await w.until("the agent's report of version 2", (m) =>
        m.some((x) => x.type === "MODIFIED" && statusOf(x)?.config?.renderedVersion === "2" && statusOf(x)?.updated?.status === "UpToDate"),
      );
    } finally {
      await w.close();
      await sim.stop();
    }
  });

  test("a viewer of another organization sees nothing of this one", async () => {
    const viewer = await t.issuer.token("eve", { roles: ["flightctl-viewer"], organizations: ["elsewhere"] });
    const w = watchDevices({}, viewer);
    try {
      await w.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      await devices().createDevice({ device: device("o1") }, auth());
      await devices().deleteDevice({ name: "o1" }, auth());
      // A change in the viewer's organization proves the stream is live; nothing else arrives.
      const mine = userClient(t, DeviceService);
      await assert.rejects(
        mine.createDevice({ device: device("eve1") }, auth(viewer)),
        (e: ConnectError) => e.code === Code.PermissionDenied,
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(summary(w.messages), ["SYNCED"]);
      assert.ok(w.bookmarks.length > 0, "the stream is alive");
    } finally {
      await w.close();
    }
  });
});

/** The SYNCED message's version. */
function w0(messages: Msg[]): string {
  return messages.find((x) => x.type === "SYNCED")!.resourceVersion;
}

describe("other kinds", () => {
  test("fleets, repositories and events stream too", async () => {
    const ac = new AbortController();
    const fleets = collect(userClient(t, FleetService).watchFleets({}, { ...auth(), signal: ac.signal }), ac);
    const ac2 = new AbortController();
    const repos = collect(userClient(t, RepositoryService).watchRepositories({}, { ...auth(), signal: ac2.signal }), ac2);
    const ac3 = new AbortController();
    const events = collect(
      userClient(t, EventService).watchEvents({ fieldSelector: "involvedObject.kind=Fleet" }, { ...auth(), signal: ac3.signal }),
      ac3,
    );
    try {
      await fleets.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      await repos.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      await events.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      await userClient(t, FleetService).createFleet(
        {
          fleet: {
            apiVersion: "flightctl.io/v1beta1",
            kind: "Fleet",
            metadata: { name: "wf" },
            spec: { selector: { matchLabels: { f: "wf" } }, template: { spec: {} } },
          },
        },
        auth(),
      );
      await userClient(t, RepositoryService).createRepository(
        {
          repository: {
            apiVersion: "flightctl.io/v1beta1",
            kind: "Repository",
            metadata: { name: "wr" },
            spec: { type: "http", url: "https://example.com/x" },
          } as never,
        },
        auth(),
      );
      await fleets.until("the fleet", (m) => m.some((x) => x.type === "ADDED" && x.name === "wf"));
      await repos.until("the repository", (m) => m.some((x) => x.type === "ADDED" && x.name === "wr"));
      await events.until("the fleet's creation event", (m) =>
        m.some((x) => (x.object as { reason?: string })?.reason === "ResourceCreated"),
      );
      assert.ok(
        events.messages.every(
          (x) => x.type !== "ADDED" || (x.object as { involvedObject?: { kind?: string } }).involvedObject?.kind === "Fleet",
        ),
      );
    } finally {
      await Promise.all([fleets.close(), repos.close(), events.close()]);
    }
  });
});

describe("two API processes on one database", () => {
  let second: RunningApi;
  before(async () => {
    const dataDir2 = mkdtempSync(join(tmpdir(), "fc-api2-"));
    second = await startApi({
      databaseUrl: t.db.url,
      dataDir: t.dataDir,
      address: "127.0.0.1:0",
      agentAddress: "127.0.0.1:0",
      authProviders: [t.issuer.provider()],
      log: createLogger("test", "error"),
    });
    rmSync(dataDir2, { recursive: true, force: true });
  });
  after(async () => {
    await second?.close();
  });

  test("a change through one reaches a watcher on the other", async () => {
    const w = watchDevices({ labelSelector: "replica=2" }, admin, second);
    try {
      await w.until("SYNCED", (m) => m.some((x) => x.type === "SYNCED"));
      await devices().createDevice({ device: device("x1", { replica: "2" }) }, auth());
      await w.until("the creation", (m) => m.length >= 2);
      await devices().deleteDevice({ name: "x1" }, auth());
      await w.until("the deletion", (m) => m.length >= 3);
      assert.deepEqual(summary(w.messages), ["SYNCED", "ADDED x1", "DELETED x1"]);
    } finally {
      await w.close();
    }
  });
});
