// npm run bench:api — loads 100,000 devices with varied labels and measures, over the network (TLS, HTTP/2, gRPC,
// one request at a time = one core's worth of client load), p50/p99 of: List with a label selector (limit 100),
// List with a field selector (limit 100), Get by name, and Create. Same-run baseline: the SQL the store issues for
// each call, run directly through `pg` on the same database. Prints a markdown table for test/bench/RESULTS.md.
import { mkdtempSync, readFileSync, rmSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { migrate } from "../../db/migrate.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { benchDatabase, startServerProcess } from "./server-process.js";
import { loadDevices } from "./devices-load.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 1000);
const WARMUP = 100;
const ORG = "00000000-0000-0000-0000-000000000000";
interface Stats {
  p50: number;
  p99: number;
  mean: number;
}

async function measure(fn: (i: number) => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await fn(i);
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const t0 = performance.now();
    await fn(i + WARMUP);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { p50: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length };
}

// The statements the resource store issues for each call: the count of matches (first page), then the page of
// limit+1 by name (through the selector's index and a sort when there are few matches, else along the primary key).
const sqlList = (filter: string) => async (pool: pg.Pool, params: unknown[]) => {
  const where = `org_id = $1 and ${filter}`;
  const total = (await pool.query(`select count(*)::int as n from devices where ${where}`, [ORG, ...params])).rows[0].n as number;
  const cols = "name, labels, annotations, owner, generation, resource_version, created_at, deletion_timestamp, spec, status";
  await pool.query(
    total <= 2000
      ? `select * from (select ${cols} from devices where ${where} offset 0) m order by name limit 101`
      : `select ${cols} from devices where ${where} order by name limit 101`,
    [ORG, ...params],
  );
};

async function main() {
  const db = await benchDatabase();
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-api-"));
  chmodSync(dataDir, 0o755);
  try {
    await migrate(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const loadMs = await loadDevices(pool, DEVICES);
    const api = await startServerProcess(db.url, dataDir);
    const transport = createGrpcTransport({
      baseUrl: `https://localhost:${api.port}`,
      nodeOptions: { ca: readFileSync(api.caPath) },
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", api.headers.authorization);
          return next(req);
        },
      ],
    });
    const client = createClient(DeviceService, transport);
    const name = (i: number) => `dev-${String((i * 7919) % DEVICES).padStart(6, "0")}`;
    const region = (i: number) => `region-${i % 10}`;

    const rows: [string, Stats, Stats][] = [];
    rows.push([
      "List, label selector `region=region-N,tier=edge`, limit 100",
      await measure((i) => client.listDevices({ options: { labelSelector: `region=${region(i)},tier=edge`, limit: 100 } })),
      await measure((i) => sqlList(`labels @> $2::jsonb`)(pool, [JSON.stringify({ region: region(i), tier: "edge" })])),
    ]);
    rows.push([
      "List, label selector `site=site-N` (100 matches), limit 100",
      await measure((i) => client.listDevices({ options: { labelSelector: `site=site-${i % 1000}`, limit: 100 } })),
      await measure((i) => sqlList(`labels @> $2::jsonb`)(pool, [JSON.stringify({ site: `site-${i % 1000}` })])),
    ]);
    rows.push([
      "List, field selector `status.summary.status=Degraded`, limit 100",
      await measure(() => client.listDevices({ options: { fieldSelector: "status.summary.status=Degraded", limit: 100 } })),
      await measure(() => sqlList(`(status->'summary'->>'status') = $2`)(pool, ["Degraded"])),
    ]);
    rows.push([
      "Get by name",
      await measure((i) => client.getDevice({ name: name(i) })),
      await measure((i) =>
        pool.query(
          `select name, labels, annotations, owner, generation, resource_version, created_at, deletion_timestamp, spec, status
           from devices where org_id = $1 and name = $2`,
          [ORG, name(i)],
        ),
      ),
    ]);
    rows.push([
      "Create (with its Event, one transaction)",
      await measure((i) =>
        client.createDevice({
          device: { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: `new-${i}`, labels: { region: region(i) } } },
        }),
      ),
      await measure(async (i) => {
        const c = await pool.connect();
        try {
          await c.query("begin");
          await c.query("insert into devices (org_id, name, labels) values ($1, $2, $3)", [
            ORG,
            `raw-${i}`,
            JSON.stringify({ region: region(i) }),
          ]);
          await c.query(
            "insert into events (org_id, reason, type, involved_kind, involved_name, actor, message, source_component) values ($1, 'ResourceCreated', 'Normal', 'Device', $2, 'user:bench', 'created', 'bench')",
            [ORG, `raw-${i}`],
          );
          await c.query("commit");
        } finally {
          c.release();
        }
      }),
    ]);

    const f = (n: number) => n.toFixed(2);
    console.log(
      `\n${DEVICES.toLocaleString("en")} devices loaded in ${(loadMs / 1000).toFixed(1)} s; ${ITERATIONS} sequential calls per row after ${WARMUP} warm-up; Postgres: ${process.env.DATABASE_URL ? "DATABASE_URL" : "embedded"}\n`,
    );
    console.log("| call | API p50 ms | API p99 ms | raw SQL p50 ms | raw SQL p99 ms | p99 ratio API/SQL |");
    console.log("|---|---|---|---|---|---|");
    for (const [label, a, b] of rows)
      console.log(`| ${label} | ${f(a.p50)} | ${f(a.p99)} | ${f(b.p50)} | ${f(b.p99)} | ${(a.p99 / b.p99).toFixed(1)}× |`);
    await api.close();
    await pool.end();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await db.cleanup();
  }
}

await main();
