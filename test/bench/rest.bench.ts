// npm run bench:rest — flightctl's REST paths against Connect JSON on the same server (its own process), same run:
// 100,000 devices, then List with a label selector (100 of them) and Get by name, each over REST
// (`GET /api/v1/devices?...`) and as a Connect JSON call, both over one HTTP/2 connection, one call at a time.
// Prints p50/p99 and the server's CPU per call, and the REST/Connect ratio (target ≤ 1.2×).
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http2 from "node:http2";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { migrate } from "../../db/migrate.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { loadDevices } from "./devices-load.js";
import { benchDatabase, startServerProcess } from "./server-process.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 1000);
const WARMUP = 100;

interface Stats {
  p50: number;
  p99: number;
  cpuMs: number;
}

async function measure(serverCpu: () => number, fn: (i: number) => Promise<unknown>): Promise<Stats> {
  for (let i = 0; i < WARMUP; i++) await fn(i);
  const samples: number[] = [];
  const cpu0 = serverCpu();
  for (let i = 0; i < ITERATIONS; i++) {
    const t0 = performance.now();
    await fn(i + WARMUP);
    samples.push(performance.now() - t0);
  }
  const cpu = serverCpu() - cpu0;
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  return { p50: at(0.5), p99: at(0.99), cpuMs: cpu / ITERATIONS };
}

/** One GET over an HTTP/2 session, the body read to the end (a REST client's whole call). */
function get(session: http2.ClientHttp2Session, path: string, authorization: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":method": "GET", ":path": path, authorization });
    let status = 0;
    let bytes = 0;
    req.on("response", (h) => (status = Number(h[":status"])));
    req.on("data", (c: Buffer) => (bytes += c.length));
    req.on("end", () => (status === 200 ? resolve(bytes) : reject(new Error(`${path}: ${status}`))));
    req.on("error", reject);
    req.end();
  });
}

async function main() {
  const db = await benchDatabase();
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-rest-"));
  chmodSync(dataDir, 0o755);
  try {
    await migrate(db.url);
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const loadMs = await loadDevices(pool, DEVICES);
    const api = await startServerProcess(db.url, dataDir);
    const ca = readFileSync(api.caPath);
    const base = `https://localhost:${api.port}`;
    const connect = createClient(
      DeviceService,
      createConnectTransport({ baseUrl: base, httpVersion: "2", useBinaryFormat: false, nodeOptions: { ca } }),
    );
    const session = http2.connect(base, { ca });
    const auth = api.headers.authorization;
    const name = (i: number) => `dev-${String((i * 7919) % DEVICES).padStart(6, "0")}`;
    const selector = (i: number) => `site=site-${i % 1000}`;

    const rows: [string, Stats, Stats][] = [
      [
        "List, label selector `site=site-N` (100 matches), limit 100",
        await measure(api.cpuMs, (i) => get(session, `/api/v1/devices?labelSelector=${encodeURIComponent(selector(i))}&limit=100`, auth)),
        await measure(api.cpuMs, (i) =>
          connect.listDevices({ options: { labelSelector: selector(i), limit: 100 } }, { headers: api.headers }),
        ),
      ],
      [
        "Get by name",
        await measure(api.cpuMs, (i) => get(session, `/api/v1/devices/${name(i)}`, auth)),
        await measure(api.cpuMs, (i) => connect.getDevice({ name: name(i) }, { headers: api.headers })),
      ],
    ];
    const f = (n: number) => n.toFixed(2);
    console.log(
      `\n${DEVICES.toLocaleString("en")} devices loaded in ${(loadMs / 1000).toFixed(1)} s; ${ITERATIONS} sequential calls per row after ${WARMUP} warm-up, one HTTP/2 connection each; server CPU from /proc\n`,
    );
    console.log(
      "| call | REST p50 ms | REST p99 ms | REST CPU ms/call | Connect JSON p50 ms | Connect JSON p99 ms | Connect CPU ms/call | p50 ratio | CPU ratio |",
    );
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const [label, r, c] of rows) {
      console.log(
        `| ${label} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.cpuMs)} | ${f(c.p50)} | ${f(c.p99)} | ${f(c.cpuMs)} | ${(r.p50 / c.p50).toFixed(2)}× | ${(r.cpuMs / c.cpuMs).toFixed(2)}× |`,
      );
    }
    session.close();
    await api.close();
    await pool.end();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await db.cleanup();
  }
}

await main();
