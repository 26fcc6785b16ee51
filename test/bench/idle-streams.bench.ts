// npm run bench:idle-streams — what N idle rendered-device streams cost the API: N mTLS HTTP/2 connections, each
// holding one plain-gRPC WatchRenderedDevice stream as the agent does, opened by a light client in this process (no
// simulated agent: no status reports, only the streams), against `flightctl-api` in its own process. Per count:
// the time to open them (TLS handshakes + stream setup), the API's RSS, heap and external memory, and its CPU over an
// idle window (heartbeats, lastSeen writes), beside the same API's idle CPU with no stream (same-run baseline). BENCH_COUNTS (default 1000,5000,10000), BENCH_IDLE_SECONDS (default 30),
// BENCH_SERVER_HEAP_MB (default 1024), BENCH_HEARTBEAT_SECONDS (default 30); BENCH_HEAP_SNAPSHOT=<dir> takes a heap
// snapshot of the API at each count; BENCH_KEEP_DIR=<dir> keeps the PKI and device keys there between runs (minting
// 10,000 certificates takes a while).
import http2 from "node:http2";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { create, toBinary } from "@bufbuild/protobuf";
import { migrate } from "../../db/migrate.js";
import { WatchRenderedDeviceRequestSchema } from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { clientSigner, deviceIdentity } from "./bench-fixtures.js";
import { initialDeviceStatus } from "../../server/devices/device-service.js";
import { benchDatabase, startServerProcess } from "./server-process.js";

const COUNTS = (process.env.BENCH_COUNTS ?? "1000,5000,10000").split(",").map(Number);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const ORG = "00000000-0000-0000-0000-000000000000";
const PATH = "/flightctl.agent.v1beta1.AgentDeviceService/WatchRenderedDevice";

const status = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8");
const kb = (s: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(s)![1]);

interface Identity {
  name: string;
  keyPem: string;
  certPem: string;
}

/** CPU ms per thread name of a process so far (/proc/<pid>/task). */
function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const comm = tid === String(pid) ? "main" : readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1].split(" ");
      out.set(comm, (out.get(comm) ?? 0) + (Number(f[11]) + Number(f[12])) * 10);
    } catch {
      // gone
    }
  }
  return out;
}
const threadDelta = (a: Map<string, number>, b: Map<string, number>, per: number) =>
  [...b].map(([k, v]) => `${k} ${((v - (a.get(k) ?? 0)) / per).toFixed(2)}`).join(", ");

/** `n` device identities signed by the data dir's client signer, minted once and kept beside it. */
async function identities(dataDir: string, n: number): Promise<Identity[]> {
  const file = join(dataDir, "devices.json");
  const have: Identity[] = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : [];
  if (have.length >= n) return have.slice(0, n);
  const signer = clientSigner(dataDir);
  for (let i = have.length; i < n; i++) have.push(await deviceIdentity(signer, ORG));
  writeFileSync(file, JSON.stringify(have));
  return have;
}

/** One agent-like stream: its own connection, one WatchRenderedDevice call; resolves once the response headers came. */
function openStream(url: string, ca: string, id: Identity, sessions: http2.ClientHttp2Session[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { ca, key: id.keyPem, cert: id.certPem });
    sessions.push(session);
    session.on("error", reject);
    // A connection the server gave up on (a handshake timeout on a loaded machine) may close without an error.
    session.on("close", () => reject(new Error("the connection closed before the stream opened")));
    const stream = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers" });
    const payload = toBinary(WatchRenderedDeviceRequestSchema, create(WatchRenderedDeviceRequestSchema, { name: id.name }));
    const body = Buffer.alloc(5 + payload.length);
    body.writeUInt32BE(payload.length, 1);
    body.set(payload, 5);
    stream.end(body);
    stream.on("response", (headers) => {
      if (headers["grpc-status"] !== undefined && headers["grpc-status"] !== "0")
        reject(new Error(`grpc-status ${headers["grpc-status"]}: ${headers["grpc-message"]}`));
      else resolve();
    });
    stream.on("data", () => {}); // heartbeats
    stream.on("error", reject);
  });
}

async function main() {
  const db = await benchDatabase();
  const keep = process.env.BENCH_KEEP_DIR;
  mkdirSync(join(process.cwd(), ".data"), { recursive: true });
  const dataDir = keep ?? mkdtempSync(join(process.cwd(), ".data", "bench-idle-"));
  mkdirSync(dataDir, { recursive: true });
  const sessions: http2.ClientHttp2Session[] = [];
  const rows: string[] = [];
  let api: Awaited<ReturnType<typeof startServerProcess>> | undefined;
  try {
    await migrate(db.url);
    const heapMb = process.env.BENCH_SERVER_HEAP_MB ?? "1024";
    api = await startServerProcess(
      db.url,
      dataDir,
      {
        FLIGHTCTL_HEARTBEAT_SECONDS: process.env.BENCH_HEARTBEAT_SECONDS ?? "30",
        FLIGHTCTL_DEBUG_MEMORY: process.env.BENCH_DEBUG_MEMORY ?? "",
      },
      heapMb ? [`--max-old-space-size=${heapMb}`] : [],
    );
    const ids = await identities(dataDir, Math.max(...COUNTS));
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    for (let i = 0; i < ids.length; i += 1000) {
      await pool.query(
        `insert into devices (org_id, name, labels, spec, status) select $1, n, '{}'::jsonb, '{}'::jsonb, $3::jsonb from unnest($2::text[]) n`,
        [ORG, ids.slice(i, i + 1000).map((d) => d.name), JSON.stringify({ ...initialDeviceStatus(), lifecycle: { status: "Enrolled" } })],
      );
    }
    await pool.end();
    const ca = readFileSync(api.bundlePath, "utf8");
    const url = `https://localhost:${api.agentPort}`;
    const base = kb(status(api.pid), "VmRSS") / 1024;
    // Same-run baseline: what the API costs idle with no stream (timers, pools, GC), to set the counts' idle CPU against.
    const cpuBase = api.cpuMs();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const idleBase = ((api.cpuMs() - cpuBase) / (IDLE_SECONDS * 1000)) * 100;
    console.log(`API RSS with no stream: ${base.toFixed(0)} MB; CPU idle with no stream: ${idleBase.toFixed(1)} %`);
    let open = 0;
    for (const n of COUNTS) {
      const t0 = performance.now();
      const mono0 = process.hrtime.bigint() / 1000n;
      const cpu0 = api.cpuMs();
      const threads0 = threadCpu(api.pid);
      let next = open;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < n) {
            const id = ids[next++];
            // On a loaded machine a handshake can time out: try that identity again (a fresh connection).
            for (let attempt = 1; ; attempt++) {
              try {
                await openStream(url, ca, id, sessions);
                break;
              } catch (e) {
                if (attempt === 3) throw e;
              }
            }
          }
        }),
      );
      const connectS = (performance.now() - t0) / 1000;
      const connectCpu = (api.cpuMs() - cpu0) / (n - open);
      console.log(`connect window (monotonic µs, as in CPU profiles): ${mono0} ${process.hrtime.bigint() / 1000n}`);
      console.log(`API CPU ms per stream opened, by thread: ${threadDelta(threads0, threadCpu(api.pid), n - open)}`);
      open = n;
      await new Promise((r) => setTimeout(r, 5000));
      const cpu1 = api.cpuMs();
      let rss = 0;
      for (let s = 0; s < IDLE_SECONDS; s += 5) {
        await new Promise((r) => setTimeout(r, 5000));
        rss = Math.max(rss, kb(status(api.pid), "VmRSS") / 1024);
      }
      const idleCpu = ((api.cpuMs() - cpu1) / (IDLE_SECONDS * 1000)) * 100;
      const snap = process.env.BENCH_HEAP_SNAPSHOT;
      if (snap) {
        const before = new Set(existsSync(snap) ? readdirSync(snap) : []);
        process.kill(api.pid, "SIGUSR2");
        for (
          let i = 0;
          i < 600 && (existsSync(snap) ? readdirSync(snap) : []).every((f) => before.has(f) || !f.endsWith(".heapsnapshot"));
          i++
        )
          await new Promise((r) => setTimeout(r, 500));
        // A snapshot is written in pieces: wait for its size to settle.
        await new Promise((r) => setTimeout(r, 10_000));
      }
      const row = `| ${n.toLocaleString("en")} | ${connectS.toFixed(1)} s | ${connectCpu.toFixed(2)} ms | ${rss.toFixed(0)} MB | ${(((rss - base) * 1024) / n).toFixed(0)} KB | ${idleCpu.toFixed(1)} % |`;
      console.log(row);
      rows.push(row);
    }
    console.log(
      `\nN idle agent streams (own mTLS connection each), API heap cap ${heapMb} MB, idle window ${IDLE_SECONDS} s; API RSS without streams ${base.toFixed(0)} MB, CPU idle without streams ${idleBase.toFixed(1)} %\n`,
    );
    console.log(
      "| N | streams opened in (64 at a time) | API CPU per stream opened | API RSS (max while idle) | RSS per stream | API CPU idle |",
    );
    console.log("|---|---|---|---|---|---|");
    for (const r of rows) console.log(r);
  } finally {
    for (const s of sessions) s.destroy();
    await api?.close();
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
    await db.cleanup();
  }
}

await main();
