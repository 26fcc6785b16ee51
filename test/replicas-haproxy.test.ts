// Two API replicas and two workers on one database behind a real TCP load balancer (haproxy, TLS passed through):
// simulated agents enroll and stream through it, spread over both replicas; a fleet template change made through one
// replica reaches every agent, whichever replica holds its stream (renders are announced to all replicas by
// Postgres NOTIFY); a user's watch on the other replica sees the agents' reports; each replica's /metrics counts the
// streams it holds. The deployment shape of bench:fleet-scale with BENCH_REPLICAS=2.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { parseAgentConfig } from "../agent/config.js";
import { startSimulator } from "../agent/simulator.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { agentConfigYaml, waitFor } from "./helpers/agents.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { startHaproxy, type Haproxy } from "./helpers/haproxy.js";

const AGENTS = 6;
let a: TestApi;
let b: TestApi;
let lb: Haproxy;
let sim: Awaited<ReturnType<typeof startSimulator>>;
let admin: string;
let dir: string;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const client = <S extends Parameters<typeof createClient>[0]>(t: TestApi, s: S) =>
  createClient(s, createGrpcTransport({ baseUrl: `https://localhost:${t.api.port}`, nodeOptions: { ca: readFileSync(t.api.caPath) } }));

before(async () => {
  a = await startTestApi({ worker: true, heartbeatMs: 1000 });
  b = await startTestApi({ worker: true, heartbeatMs: 1000, reuse: { db: a.db, dataDir: a.dataDir, issuer: a.issuer } });
  lb = await startHaproxy({ backends: [a.api.agentPort, b.api.agentPort] });
  admin = await a.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-replicas-"));
  const config = parseAgentConfig(await agentConfigYaml(a, admin, "/unused", "/unused"));
  const installer = await a.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
  sim = await startSimulator({
    count: AGENTS,
    config: { ...config, server: `https://localhost:${lb.port}` },
    baseDir: dir,
    labels: { fleet: "lb" },
    approve: { api: `https://localhost:${a.api.port}`, caPem: readFileSync(a.api.caPath, "utf8"), token: installer },
    log: pino({ level: "silent" }),
  });
  await sim.started();
});

after(async () => {
  await sim?.stop();
  await lb?.close();
  // b shares a's database, issuer and data dir: stop its server and worker first, then let a drop them.
  await b?.stop();
  await a?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** flightctl_api_device_streams of one replica's /metrics: its replica label and value. */
async function streamsMetric(t: TestApi): Promise<{ replica: string; value: number }> {
  const text = await new Promise<string>((resolve, reject) => {
    request(`https://localhost:${t.api.port}/metrics`, { ca: readFileSync(t.api.caPath) }, (r) => {
      let body = "";
      r.on("data", (c: Buffer) => (body += c));
      r.on("end", () => resolve(body));
    })
      .on("error", reject)
      .end();
  });
  const m = /^flightctl_api_device_streams\{replica="([^"]+)"\} (\d+)$/m.exec(text);
  assert.ok(m, "flightctl_api_device_streams is served");
  return { replica: m[1], value: Number(m[2]) };
}

test("agents behind haproxy are spread over both replicas, and each replica's metrics count its own streams", async () => {
  await waitFor("every agent streaming", async () => a.api.notifier.size + b.api.notifier.size === AGENTS);
  assert.ok(a.api.notifier.size > 0 && b.api.notifier.size > 0, `streams on a: ${a.api.notifier.size}, on b: ${b.api.notifier.size}`);
  const [ma, mb] = [await streamsMetric(a), await streamsMetric(b)];
  assert.notEqual(ma.replica, mb.replica);
  assert.deepEqual([ma.value, mb.value], [a.api.notifier.size, b.api.notifier.size]);
});

test("a fleet change through one replica reaches every agent, and a watch on the other sees their reports", async () => {
  const template = (content: string) =>
    fromJson(FleetSchema, {
      apiVersion: "v1beta1",
      kind: "Fleet",
      metadata: { name: "lb" },
      spec: {
        selector: { matchLabels: { fleet: "lb" } },
        template: { spec: { config: [{ name: "c", inline: [{ path: "/etc/lb.conf", content }] }] } },
      },
    });
  // Created through a, changed through b.
  await client(a, FleetService).replaceFleet({ name: "lb", fleet: template("one\n") }, auth());
  const running = async (content: string) =>
    (
      await a.db.pool.query(
        `select count(*)::int c from devices d join device_renders r on r.org_id = d.org_id and r.name = d.name
          where d.labels->>'fleet' = 'lb' and d.status->'config'->>'renderedVersion' = r.rendered_version::text
            and r.spec->'config'->0->'inline'->0->>'content' = $1`,
        [content],
      )
    ).rows[0].c as number;
  await waitFor("every agent running the fleet's first template", async () => (await running("one\n")) === AGENTS, 60_000);

  const ac = new AbortController();
  const seen = new Set<string>();
  let synced!: () => void;
  const isSynced = new Promise<void>((r) => (synced = r));
  const watch = (async () => {
    try {
      for await (const m of client(b, DeviceService).watchDevices({ labelSelector: "fleet=lb" }, { ...auth(), signal: ac.signal })) {
        if (m.type === "SYNCED") synced();
        const d = m.object;
        if (m.type === "MODIFIED" && d?.spec?.config?.[0]?.inline?.[0]?.content === "two\n" && d.status?.updated?.status === "UpToDate")
          seen.add(d.metadata!.name!);
      }
    } catch (e) {
      if (!ac.signal.aborted) throw e;
    }
  })();
  try {
    // The change only after the watch's initial list: a device done before it would arrive as ADDED, not MODIFIED.
    await Promise.race([isSynced, watch]);
    await client(b, FleetService).replaceFleet({ name: "lb", fleet: template("two\n") }, auth());
    await waitFor("every agent running the change", async () => (await running("two\n")) === AGENTS, 60_000);
    await waitFor("the watch on b seeing every agent up to date", async () => seen.size === AGENTS, 30_000);
  } finally {
    ac.abort();
    await watch;
  }
});
