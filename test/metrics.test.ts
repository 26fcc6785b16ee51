// Service metrics with two API replicas and a worker on one database: the fleet-wide gauges (devices per organization,
// fleet and status; fleets; repositories) match the API's own answers and are the same from both replicas; one
// replica computes them per interval; per-replica figures carry their replica; the worker counts its jobs by task and
// outcome; and a real Prometheus scraping both replicas answers PromQL with the API's numbers.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import https from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { OrganizationService } from "../gen/flightctl/v1beta1/organization_service_pb.js";
import { DeviceStatusSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { startApi, type RunningApi } from "../server/main/api.js";
import { startWorker } from "../server/main/worker.js";
import { loadConfig } from "../server/config.js";
import { createLogger } from "../lib/logger.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { addJob } from "../server/jobs/queue-store.js";
import { startFleetGauges } from "../server/metrics/fleet-gauges.js";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { startTestIssuer, type TestIssuer } from "./helpers/oidc.js";
import { waitFor } from "./helpers/agents.js";
import { startPrometheus, type PrometheusServer } from "./helpers/prometheus-server.js";

const log = createLogger("test", "error");
let db: TestDatabase;
let issuer: TestIssuer;
let dataDir: string;
const replicas: RunningApi[] = [];
let worker: Awaited<ReturnType<typeof startWorker>>;
let admin: string;
let alice: string;
let acme: string;

const headers = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const client = <S extends Parameters<typeof createClient>[0]>(s: S, api: RunningApi = replicas[0]) =>
  createClient(s, createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca: readFileSync(api.caPath) } }));

before(async () => {
  db = await createTestDatabase();
  issuer = await startTestIssuer();
  dataDir = mkdtempSync(join(tmpdir(), "fc-metrics-"));
  // Two replicas on one database and data dir (one PKI), recomputing often so the test need not wait 30 s. The first
  // serves its service metrics on the user endpoint's /metrics (the default), the second on a listener of their own.
  for (const [replica, address] of [
    ["api-1", undefined],
    ["api-2", "127.0.0.1:0"],
  ]) {
    replicas.push(
      await startApi({
        databaseUrl: db.url,
        dataDir,
        address: "127.0.0.1:0",
        agentAddress: "127.0.0.1:0",
        authProviders: [issuer.provider()],
        rateLimits: { trustedProxies: [] },
        metrics: { intervalMs: 300, replica, address },
        log,
      }),
    );
  }
  // The worker logs the failure the test provokes: silent.
  worker = await startWorker({
    databaseUrl: db.url,
    log: createLogger("test", "silent"),
    concurrency: 4,
    metricsAddress: "127.0.0.1:0",
    replica: "worker-1",
  });
  admin = await issuer.token("root", { roles: ["flightctl-admin"] });
  alice = await issuer.token("alice", { roles: ["flightctl-org-admin"], organizations: ["acme"] });
  acme = (await client(OrganizationService).listOrganizations({}, headers(alice))).items[0].metadata!.name!;
});

after(async () => {
  await worker?.close();
  for (const r of replicas) await r.close();
  await issuer?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

/** A Prometheus text exposition as samples (the test's own reading, not the server's code). */
function parseExposition(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** GET /metrics of a replica's user endpoint (HTTPS, trusting the test CA), parsed. */
async function scrapeUserEndpoint(api: RunningApi) {
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.get(`https://localhost:${api.port}/metrics`, { ca: readFileSync(api.caPath) }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: ${res.statusCode} ${body}`))));
    });
    req.on("error", reject);
  });
  return parseExposition(text);
}

/** A replica's service metrics: from their own listener when it has one, else from the user endpoint. */
async function scrape(api: RunningApi) {
  if (api.metricsPort === undefined) return scrapeUserEndpoint(api);
  const res = await fetch(`http://127.0.0.1:${api.metricsPort}/metrics`);
  assert.equal(res.status, 200);
  return parseExposition(await res.text());
}

const DEVICE_GAUGES = {
  flightctl_devices_summary: "summaryStatus",
  flightctl_devices_update: "updateStatus",
  flightctl_devices_application: "applicationStatus",
} as const;

/** "<gauge> <org> <fleet> <status>" → count, for the three device gauges, from scraped samples (zero counts left out). */
function deviceCounts(samples: ReturnType<typeof parseExposition>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (!(s.name in DEVICE_GAUGES) || s.value === 0) continue;
    out[`${s.name} ${s.labels.organization_id} ${s.labels.fleet} ${s.labels.status}`] = s.value;
  }
  return out;
}

/** The same, from the API's own summaries (ListDevices summaryOnly per owner, per organization). */
async function apiDeviceCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const devices = client(DeviceService);
  for (const [orgId, token] of [
    [DEFAULT_ORG_ID, admin],
    [acme, alice],
  ]) {
    for (const [fleet, fieldSelector] of [
      ["Fleet/f1", "metadata.owner=Fleet/f1"],
      ["Fleet/f2", "metadata.owner=Fleet/f2"],
      ["unknown", "!metadata.owner"],
    ]) {
      const { summary } = await devices.listDevices({ summaryOnly: true, options: { fieldSelector }, orgId }, headers(token));
      for (const [gauge, field] of Object.entries(DEVICE_GAUGES)) {
        for (const [status, n] of Object.entries(summary?.[field] ?? {})) if (n) out[`${gauge} ${orgId} ${fleet} ${status}`] = n;
      }
    }
  }
  return out;
}

describe("the fleet-wide gauges with two API replicas", () => {
  before(async () => {
    const fleets = client(FleetService);
    const devices = client(DeviceService);
    for (const [name, group] of [
      ["f1", "a"],
      ["f2", "b"],
    ]) {
      const fleet = fromJson(FleetSchema, {
        apiVersion: "v1beta1",
        kind: "Fleet",
        metadata: { name },
        spec: { selector: { matchLabels: { group } }, template: { metadata: { labels: { fleet: name } }, spec: {} } },
      });
      await fleets.replaceFleet({ name, fleet }, headers(admin));
    }
    // Varied statuses: summary / updated / applications per device; b3 and u2 report nothing (Unknown).
    const defaults: [string, string | undefined, [string, string, string] | undefined][] = [
      ["a1", "a", ["Online", "UpToDate", "Healthy"]],
      ["a2", "a", ["Online", "OutOfDate", "Degraded"]],
      ["a3", "a", ["Degraded", "UpToDate", "Healthy"]],
      ["a4", "a", ["Error", "Updating", "Error"]],
      ["b1", "b", ["Online", "UpToDate", "Healthy"]],
      ["b2", "b", ["Rebooting", "OutOfDate", "Healthy"]],
      ["b3", "b", undefined],
      ["u1", undefined, ["Online", "UpToDate", "Healthy"]],
      ["u2", undefined, undefined],
    ];
    const inAcme: typeof defaults = [
      ["x1", undefined, ["Online", "UpToDate", "Healthy"]],
      ["x2", undefined, ["Error", "OutOfDate", "Error"]],
    ];
    for (const [list, token] of [
      [defaults, admin],
      [inAcme, alice],
    ] as const) {
      for (const [name, group] of list) {
        const labels: Record<string, string> = group ? { group } : {};
        await devices.createDevice(
          { device: { apiVersion: "v1beta1", kind: "Device", metadata: { name, labels }, spec: {} } },
          headers(token),
        );
      }
    }
    // Owners come from the worker's fleet selection.
    await waitFor("the fleets own their devices", async () => {
      const owners = await Promise.all(
        ["a1", "a4", "b1", "b3"].map(async (name) => (await devices.getDevice({ name }, headers(admin))).metadata?.owner),
      );
      return owners.join() === "Fleet/f1,Fleet/f1,Fleet/f2,Fleet/f2";
    });
    for (const [list, token] of [
      [defaults, admin],
      [inAcme, alice],
    ] as const) {
      for (const [name, , s] of list) {
        if (!s) continue;
        const status = fromJson(DeviceStatusSchema, {
          summary: { status: s[0] },
          updated: { status: s[1] },
          applicationsSummary: { status: s[2] },
        });
        await devices.replaceDeviceStatus(
          { name, device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, status } },
          headers(token),
        );
      }
    }
    await client(RepositoryService).replaceRepository(
      {
        name: "r1",
        repository: fromJson(RepositorySchema, {
          apiVersion: "v1beta1",
          kind: "Repository",
          metadata: { name: "r1" },
          spec: { type: "git", url: "https://example.invalid/r1.git" } as JsonObject,
        }),
      },
      headers(admin),
    );
  });

  test("devices per organization, fleet and status: the API's summaries, the same from both replicas", async () => {
    const { api, first, second } = await waitFor(
      "both replicas' gauges to match the API's summaries",
      async () => {
        const api = await apiDeviceCounts();
        const [first, second] = await Promise.all(replicas.map(async (r) => deviceCounts(await scrape(r))));
        const same = (x: object) => JSON.stringify(Object.entries(x).sort()) === JSON.stringify(Object.entries(api).sort());
        return same(first) && same(second) && { api, first, second };
      },
      30_000,
    ).catch(async (err) => {
      // Show what differed.
      const [first, second] = await Promise.all(replicas.map(async (r) => deviceCounts(await scrape(r))));
      assert.deepEqual({ first, second }, { first: await apiDeviceCounts(), second: await apiDeviceCounts() }, String(err));
      throw err;
    });
    assert.deepEqual(first, api);
    assert.deepEqual(second, api);
    // The API's summaries hold what the devices reported (the comparison is not between two empty sets).
    const d = DEFAULT_ORG_ID;
    assert.equal(api[`flightctl_devices_summary ${d} Fleet/f1 Online`], 2);
    assert.equal(api[`flightctl_devices_summary ${d} Fleet/f2 Unknown`], 1);
    assert.equal(api[`flightctl_devices_summary ${d} unknown Unknown`], 1);
    assert.equal(api[`flightctl_devices_summary ${acme} unknown Error`], 1);
    // All devices counted once per gauge: the sum over organizations and fleets is the number of devices.
    for (const gauge of Object.keys(DEVICE_GAUGES)) {
      const sum = Object.entries(first)
        .filter(([k]) => k.startsWith(`${gauge} `))
        .reduce((n, [, v]) => n + v, 0);
      assert.equal(sum, 11, gauge);
    }
  });

  test("fleets by rollout state and repositories: the API's answers, the same from both replicas; the snapshot is recent", async () => {
    // Rollout states move as the worker goes: both sides are read anew until they agree.
    const expectedFleets = async () => {
      const expected: Record<string, number> = {};
      for (const f of (await client(FleetService).listFleets({}, headers(admin))).items) {
        const state = f.status?.conditions.find((c) => c.type === "RolloutInProgress")?.reason ?? "Inactive";
        expected[state] = (expected[state] ?? 0) + 1;
      }
      return expected;
    };
    const repos = (await client(RepositoryService).listRepositories({}, headers(admin))).items.length;
    const pick = (samples: Awaited<ReturnType<typeof scrape>>) => ({
      fleets: Object.fromEntries(
        samples
          .filter((s) => s.name === "flightctl_fleets" && s.labels.organization_id === DEFAULT_ORG_ID)
          .map((s) => [s.labels.status, s.value])
          .sort(),
      ),
      repos: samples.find((s) => s.name === "flightctl_repositories_total" && s.labels.organization_id === DEFAULT_ORG_ID)?.value,
      at: samples.find((s) => s.name === "flightctl_metrics_snapshot_timestamp_seconds")?.value,
    });
    const last = { a: {}, b: {}, expected: {} };
    await waitFor("fleets and repositories in the gauges", async () => {
      const expected = Object.fromEntries(Object.entries(await expectedFleets()).sort());
      const [a, b] = (await Promise.all(replicas.map(scrape))).map(pick);
      Object.assign(last, { a, b, expected });
      // The snapshot's time is recent on both (each replica reads the snapshot of its scrape's moment).
      const recent = (at?: number) => at !== undefined && Math.abs(Date.now() / 1000 - at) < 10;
      return (
        JSON.stringify(a.fleets) === JSON.stringify(expected) &&
        a.repos === repos &&
        JSON.stringify({ ...a, at: 0 }) === JSON.stringify({ ...b, at: 0 }) &&
        recent(a.at) &&
        recent(b.at)
      );
    }).catch((err) => assert.fail(`${err.message}: ${JSON.stringify(last)}`));
    assert.equal(repos, 1);
  });

  test("per-replica figures carry their replica: the pool and the device streams of each", async () => {
    const max = loadConfig({}).api.dbPoolMax;
    for (const [i, r] of replicas.entries()) {
      const samples = await scrape(r);
      const mine = (name: string) => samples.filter((s) => s.name === name).map((s) => s.labels);
      assert.deepEqual(mine("flightctl_db_pool_max_open_connections"), [{ replica: `api-${i + 1}`, pool: "api" }]);
      assert.equal(samples.find((s) => s.name === "flightctl_db_pool_max_open_connections")?.value, max);
      assert.deepEqual(mine("flightctl_api_device_streams"), [{ replica: `api-${i + 1}` }]);
      const open = samples.find((s) => s.name === "flightctl_db_pool_open_connections")!.value;
      const inUse = samples.find((s) => s.name === "flightctl_db_pool_in_use")!.value;
      const idle = samples.find((s) => s.name === "flightctl_db_pool_idle")!.value;
      assert.ok(open > 0 && open <= max && inUse + idle === open, JSON.stringify({ open, inUse, idle }));
    }
  });

  test("with a listener of their own, the service metrics stay off the public user endpoint", async () => {
    assert.equal(replicas[0].metricsPort, undefined);
    assert.ok(replicas[1].metricsPort);
    await client(DeviceService, replicas[1]).listDevices({}, headers(admin));
    const names = new Set((await scrapeUserEndpoint(replicas[1])).map((s) => s.name));
    assert.ok(names.has("flightctl_api_requests_total"), "the endpoint's own RPC metrics are still there");
    for (const name of ["flightctl_devices_summary", "flightctl_fleets", "flightctl_db_pool_in_use", "flightctl_api_device_streams"]) {
      assert.ok(!names.has(name), name);
    }
    const own = new Set((await scrape(replicas[1])).map((s) => s.name));
    assert.ok(own.has("flightctl_devices_summary") && own.has("flightctl_api_device_streams"));
  });

  test("one replica computes per interval: of two racing, one computes and the other finds it fresh", async () => {
    // A database of its own, where no replica's timer runs: two starting together race for the first snapshot.
    const other = await createTestDatabase();
    const gauges = [0, 1].map(() => startFleetGauges({ db: createDb(other.pool), log, intervalMs: 3_600_000, groupByFleet: true }));
    try {
      // tick() joins the computation each started with.
      const first = await Promise.all(gauges.map((g) => g.tick()));
      assert.deepEqual(first.sort(), [false, true]);
      // Fresh for an hour: neither computes again.
      assert.deepEqual(await Promise.all(gauges.map((g) => g.tick())), [false, false]);
      // Both serve that one snapshot: an empty database's "nothing counted" samples, the same time.
      const [a, b] = await Promise.all(gauges.map(async (g) => parseExposition(await g.text())));
      assert.deepEqual(a, b);
      const none = a.find((x) => x.name === "flightctl_devices_summary");
      assert.deepEqual(none, {
        name: "flightctl_devices_summary",
        labels: { organization_id: "unknown", fleet: "unknown", status: "none" },
        value: 0,
      });
    } finally {
      await Promise.all(gauges.map((g) => g.close()));
      await other.drop();
    }
  });

  test("a job no worker runs shows in the queue depth", async () => {
    await addJob(createDb(db.pool), "metrics_test_unknown_task", {});
    await waitFor("the queue depth", async () => {
      const samples = await scrape(replicas[1]);
      return samples.find((s) => s.name === "flightctl_worker_queue_depth" && s.labels.queue === "metrics_test_unknown_task")?.value === 1;
    });
  });

  test("the worker counts its jobs by task and outcome", async () => {
    // A job whose payload its task refuses, with one attempt: a permanent failure of that task.
    await addJob(createDb(db.pool), "fleet_validate", { orgId: "not-a-uuid", fleet: "f1" }, { maxAttempts: 1 });
    const samples = await waitFor("the worker's failure count", async () => {
      const res = await fetch(`http://127.0.0.1:${worker.metricsPort}/metrics`);
      const samples = parseExposition(await res.text());
      const failed = samples.find(
        (s) =>
          s.name === "flightctl_worker_task_failures_total" &&
          s.labels.task_type === "fleet_validate" &&
          s.labels.status === "permanent_failure",
      );
      return failed?.value === 1 && samples;
    });
    const value = (name: string, labels: Record<string, string>) =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;
    const r = { replica: "worker-1" };
    assert.ok(value("flightctl_worker_tasks_by_type_total", { ...r, task_type: "fleet_selection" }) >= 1);
    assert.ok(value("flightctl_worker_task_execution_duration_seconds_count", { ...r, task_type: "fleet_selection" }) >= 1);
    assert.ok(value("flightctl_worker_messages_processed_total", { ...r, status: "success" }) >= 1);
    assert.equal(value("flightctl_worker_permanent_failures_total", r), 1);
    assert.equal(value("flightctl_worker_messages_processed_total", { ...r, status: "permanent_failure" }), 1);
    assert.equal(value("flightctl_worker_consumers_active", r), 4);
    assert.equal(value("flightctl_db_pool_max_open_connections", { ...r, pool: "worker" }), 6);
  });

  describe("a real Prometheus scraping both replicas", () => {
    let prom: PrometheusServer;
    before(async () => {
      prom = await startPrometheus({
        scrapeConfigs: [
          {
            job_name: "flightctl-api",
            scheme: "https",
            tls_config: { ca_file: replicas[0].caPath, server_name: "localhost" },
            static_configs: [{ targets: [`127.0.0.1:${replicas[0].port}`] }],
          },
          { job_name: "flightctl-api-metrics", static_configs: [{ targets: [`127.0.0.1:${replicas[1].metricsPort}`] }] },
          { job_name: "flightctl-worker", static_configs: [{ targets: [`127.0.0.1:${worker.metricsPort}`] }] },
        ],
      });
    });
    after(async () => {
      await prom.close();
    });

    const query = async (promql: string) =>
      (await prom.query(promql)).map((r) => ({ metric: r.metric, value: [0, String(r.value)] as [number, string] }));

    test("PromQL answers the API's device counts: one value per series across replicas (max), both replicas scraped", async () => {
      const api = await apiDeviceCounts();
      const d = DEFAULT_ORG_ID;
      // The query the docs give: both replicas serve the same snapshot, so max (not sum) over them is the figure.
      const promql = `max by (organization_id, fleet, status) (flightctl_devices_summary{organization_id="${d}", fleet="Fleet/f1"})`;
      const result = await waitFor(
        "Prometheus to have scraped both replicas",
        async () => {
          const both = await query(
            `count by (organization_id, fleet, status) (flightctl_devices_summary{organization_id="${d}", fleet="Fleet/f1"})`,
          );
          return both.length > 0 && both.every((r) => r.value[1] === "2") && (await query(promql));
        },
        30_000,
      );
      const got = Object.fromEntries(
        result.map((r) => [
          `flightctl_devices_summary ${r.metric.organization_id} ${r.metric.fleet} ${r.metric.status}`,
          Number(r.value[1]),
        ]),
      );
      const want = Object.fromEntries(Object.entries(api).filter(([k]) => k.startsWith(`flightctl_devices_summary ${d} Fleet/f1 `)));
      assert.deepEqual(got, want);
      // And the total of a fleet, as the dashboard asks it.
      const [total] = await query(`sum(max by (organization_id, fleet, status) (flightctl_devices_summary{fleet="Fleet/f1"}))`);
      assert.equal(Number(total.value[1]), 4);
      // Per-replica figures do add up: two API pools.
      const [pools] = await query(`count(flightctl_db_pool_max_open_connections{pool="api"})`);
      assert.equal(pools.value[1], "2");
    });

    test("every query of the Grafana dashboard is PromQL Prometheus accepts, and the device panels have data", async () => {
      const dashboard = JSON.parse(readFileSync(new URL("../docs/grafana/fleet-overview.json", import.meta.url), "utf8")) as {
        panels: { title: string; type: string; targets?: { expr: string }[] }[];
      };
      const targets = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr })));
      assert.ok(targets.length >= 15);
      for (const { title, expr } of targets) {
        // Grafana's variables as "All" and its rate interval.
        const promql = expr.replaceAll("$organization", ".*").replaceAll("$fleet", ".*").replaceAll("$__rate_interval", "1m");
        const result = await query(promql);
        if (/flightctl_devices_/.test(expr)) assert.ok(result.length > 0, `${title}: no data for ${promql}`);
      }
      const [devices] = await query(
        targets
          .find((t) => t.title === "Devices")!
          .expr.replaceAll("$organization", ".*")
          .replaceAll("$fleet", ".*"),
      );
      assert.equal(Number(devices.value[1]), 11);
    });
  });
});
