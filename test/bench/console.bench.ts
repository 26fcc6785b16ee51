// Console relay benchmark (`npm run bench:console`): two API processes sharing Postgres and Redis, an agent (in this
// process, real PTY) streaming to replica A, the user on replica B. Measures one keystroke's round trip (p50/p99:
// a byte typed into `cat` in a raw terminal until it comes back) and bulk output throughput (`head -c` through the
// relay), against baselines measured in the same run: a loopback TCP echo and the same keystroke on a local PTY.
//   BENCH_KEYS (default 500), BENCH_BULK_MB (default 32), REDIS_URL (default redis://127.0.0.1:6379)
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pino from "pino";
import { stringify } from "yaml";
import { spawn as spawnPty } from "node-pty";
import { migrate } from "../../db/migrate.js";
import { createAgent } from "../../agent/agent.js";
import { parseAgentConfig } from "../../agent/config.js";
import {
  ConsoleService,
  OpenDeviceConsoleRequestSchema,
  type OpenDeviceConsoleRequest,
} from "../../gen/flightctl/v1beta1/console_service_pb.js";
import { ConsoleFrameSchema } from "../../gen/flightctl/v1beta1/console_pb.js";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { createAsyncQueue } from "../../lib/async-queue.js";
import { benchDatabase, startServerProcess } from "./server-process.js";

const KEYS = Number(process.env.BENCH_KEYS ?? 500);
const BULK = Number(process.env.BENCH_BULK_MB ?? 32) * 1024 * 1024;
type Server = Awaited<ReturnType<typeof startServerProcess>>;
const client = <S extends Parameters<typeof createClient>[0]>(s: Server, service: S) =>
  createClient(service, createGrpcTransport({ baseUrl: `https://localhost:${s.port}`, nodeOptions: { ca: readFileSync(s.caPath) } }));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p99 ${pct(xs, 99).toFixed(2)} ms`;

/** Round trips of one byte through `write` → `onByte`, in ms. */
async function roundTrips(write: (b: Buffer) => void, arrived: { wait: () => Promise<void> }): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    const t = process.hrtime.bigint();
    const w = arrived.wait();
    write(Buffer.from("x"));
    await w;
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

/** Resolves wait() each time `n` more bytes arrived. */
function counter() {
  let got = 0;
  let want = Infinity;
  let resolve = () => {};
  return {
    add(n: number) {
      got += n;
      if (got >= want) resolve();
    },
    wait() {
      want = got + 1;
      return new Promise<void>((r) => (resolve = r));
    },
    get total() {
      return got;
    },
  };
}

async function tcpBaseline() {
  const server = createServer((s) => s.pipe(s)).listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const sock = connect((server.address() as { port: number }).port, "127.0.0.1");
  sock.setNoDelay(true);
  await new Promise((r) => sock.once("connect", r));
  const c = counter();
  sock.on("data", (d) => c.add(d.length));
  const keys = await roundTrips((b) => sock.write(b), c);
  const start = process.hrtime.bigint();
  const chunk = Buffer.alloc(64 * 1024);
  const until = c.total + BULK;
  const done = new Promise<void>((r) => sock.on("data", () => c.total >= until && r()));
  for (let sent = 0; sent < BULK; sent += chunk.length) if (!sock.write(chunk)) await new Promise((r) => sock.once("drain", r));
  await done;
  const mbps = BULK / 1048576 / (Number(process.hrtime.bigint() - start) / 1e9);
  sock.destroy();
  server.close();
  return { keys, mbps };
}

async function localPtyBaseline() {
  const pty = spawnPty("/bin/sh", ["-c", "stty raw -echo; cat"], { cols: 80, rows: 24, encoding: null });
  const c = counter();
  pty.onData((d) => c.add((d as unknown as Buffer).length));
  await new Promise((r) => setTimeout(r, 300));
  const keys = await roundTrips((b) => pty.write(b), c);
  pty.kill();
  return keys;
}

async function main() {
  const db = await benchDatabase();
  const dir = mkdtempSync(join(tmpdir(), "fc-bench-console-"));
  const dataDir = join(dir, "api");
  mkdirSync(dataDir);
  await migrate(db.url);
  const env = { FLIGHTCTL_REDIS_URL: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" };
  const a = await startServerProcess(db.url, dataDir, env);
  const b = await startServerProcess(db.url, dataDir, env);
  const cfg = await client(a, EnrollmentConfigService).getEnrollmentConfig({}, { headers: a.headers });
  const agent = createAgent({
    config: parseAgentConfig(
      stringify({
        "enrollment-service": {
          service: {
            server: `https://localhost:${a.agentPort}`,
            "certificate-authority-data": cfg.enrollmentService!.service!.certificateAuthorityData,
          },
          authentication: {
            "client-certificate-data": cfg.enrollmentService!.authentication!.clientCertificateData,
            "client-key-data": cfg.enrollmentService!.authentication!.clientKeyData,
          },
        },
        "data-dir": join(dir, "data"),
        "test-root-dir": join(dir, "root"),
        "enrollment-verify-interval": "200ms",
      }),
    ),
    log: pino({ level: "silent" }),
    console: { enabled: true, shell: "/bin/sh" },
    onEnrollmentRequested: async (n) =>
      void (await client(a, EnrollmentRequestService).approveEnrollmentRequest(
        { name: n, approval: { approved: true } },
        { headers: a.headers },
      )),
  });
  try {
    await agent.start();
    const name = agent.name;
    /** A session on replica B running `args`; `onOutput` gets each output chunk's size. */
    const open = (tty: boolean, command: string[], onOutput: (n: number) => void) => {
      const input = createAsyncQueue<OpenDeviceConsoleRequest>();
      void input.push(
        create(OpenDeviceConsoleRequestSchema, {
          message: { case: "open", value: { name, metadata: { tty, command: { command: command[0], args: command.slice(1) } } } },
        }),
      );
      const done = (async () => {
        for await (const r of client(b, ConsoleService).openDeviceConsole(input, { headers: b.headers })) {
          if (r.message.case === "frame" && r.message.value.frame.case === "stdout") onOutput(r.message.value.frame.value.length);
        }
      })();
      const send = (d: Buffer) =>
        void input.push(
          create(OpenDeviceConsoleRequestSchema, {
            message: { case: "frame", value: create(ConsoleFrameSchema, { frame: { case: "stdin", value: d } }) },
          }),
        );
      const close = () =>
        void input.push(
          create(OpenDeviceConsoleRequestSchema, {
            message: { case: "frame", value: create(ConsoleFrameSchema, { frame: { case: "close", value: {} } }) },
          }),
        );
      return { send, done, close };
    };

    const c = counter();
    const echo = open(true, ["/bin/sh", "-c", "stty raw -echo; printf R; cat"], (n) => c.add(n));
    await c.wait(); // "R": the terminal is raw
    await roundTrips(echo.send, c).then((warm) => warm.length); // warm-up
    const relayKeys = await roundTrips(echo.send, c);
    echo.close();
    await echo.done.catch(() => {});

    let got = 0;
    const start = process.hrtime.bigint();
    const bulk = open(false, ["head", "-c", String(BULK), "/dev/zero"], (n) => (got += n));
    await bulk.done;
    const relayMbps = got / 1048576 / (Number(process.hrtime.bigint() - start) / 1e9);

    const tcp = await tcpBaseline();
    const pty = await localPtyBaseline();
    console.log(`keystroke round trip, ${KEYS} keys:`);
    console.log(`  relay (user on B, agent on A, Redis streams): ${fmt(relayKeys)}`);
    console.log(`  local PTY (same shell, no network):           ${fmt(pty)}`);
    console.log(`  loopback TCP echo:                            ${fmt(tcp.keys)}`);
    console.log(`bulk output, ${BULK / 1048576} MiB:`);
    console.log(`  relay: ${relayMbps.toFixed(1)} MiB/s (${got === BULK ? "complete" : `INCOMPLETE: ${got} bytes`})`);
    console.log(`  loopback TCP echo: ${tcp.mbps.toFixed(1)} MiB/s (ratio ${(tcp.mbps / relayMbps).toFixed(1)}x)`);
  } finally {
    await agent.stop();
    await a.close();
    await b.close();
    await db.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
