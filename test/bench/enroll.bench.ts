// npm run bench:enroll — enrollments per second end to end with 50 concurrent agents: each agent makes its key and
// CSR, opens its own mTLS connection with the enrollment certificate, submits the EnrollmentRequest, an admin approves
// it over the user endpoint, the agent reads its management certificate and makes one call with it over a new mTLS
// connection. Then the cost of one fresh mTLS handshake + RPC vs. an RPC on an open connection. Same-run baseline:
// `openssl speed ecdsap256` (ECDSA P-256 sign and verify per second on this machine), since enrollment is bound by
// those operations. Prints a markdown table for test/bench/RESULTS.md.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { migrate } from "../../db/migrate.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../../lib/csr.js";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { AgentEnrollmentService } from "../../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import { AgentDeviceService } from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { benchDatabase, startServerProcess } from "./server-process.js";

const AGENTS = Number(process.env.BENCH_AGENTS ?? 50);
const ENROLLMENTS = Number(process.env.BENCH_ENROLLMENTS ?? 500);
const HANDSHAKES = Number(process.env.BENCH_HANDSHAKES ?? 300);

/** ECDSA P-256 sign/s and verify/s from openssl on this machine (one core). */
function opensslSpeed(): { sign: number; verify: number } {
  const out = execFileSync("openssl", ["speed", "-seconds", "3", "ecdsap256"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const line = out.split("\n").find((l) => /^\s*256 bits ecdsa \(nistp256\)/.test(l));
  if (!line) throw new Error(`unexpected openssl speed output:\n${out}`);
  const nums = line.trim().split(/\s+/).slice(-2).map(Number);
  return { sign: nums[0], verify: nums[1] };
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function main() {
  const db = await benchDatabase();
  mkdirSync(join(process.cwd(), ".data"), { recursive: true });
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-enroll-"));
  chmodSync(dataDir, 0o755);
  try {
    await migrate(db.url);
    const api = await startServerProcess(db.url, dataDir);
    const ca = readFileSync(api.bundlePath, "utf8");
    const userTransport = createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca } });
    const opts = { headers: api.headers };
    const cfg = await createClient(EnrollmentConfigService, userTransport).getEnrollmentConfig({}, opts);
    const enroll = {
      cert: Buffer.from(cfg.enrollmentService!.authentication!.clientCertificateData!, "base64").toString(),
      key: Buffer.from(cfg.enrollmentService!.authentication!.clientKeyData!, "base64").toString(),
    };
    const approver = createClient(EnrollmentRequestService, userTransport);

    /** A client on its own HTTP/2 session (its own TLS handshake); `done()` closes the session. */
    function agentClient<S extends DescService>(service: S, cert: string, key: string) {
      const url = `https://localhost:${api.agentPort}`;
      const sessions = new Http2SessionManager(url, undefined, { ca, cert, key });
      const client = createClient(service, createGrpcTransport({ baseUrl: url, sessionManager: sessions }));
      return { client, done: () => sessions.abort() };
    }

    async function enrollOne(): Promise<number> {
      const t0 = performance.now();
      const keys = await generateDeviceKey();
      const name = await deviceNameFromPublicKey(keys.publicKey);
      const csr = await createCsr(keys, name);
      const a = agentClient(AgentEnrollmentService, enroll.cert, enroll.key);
      await a.client.createEnrollmentRequest({
        enrollmentRequest: { apiVersion: "v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr } },
      });
      await approver.approveEnrollmentRequest({ name, approval: { approved: true, labels: { bench: "enroll" } } }, opts);
      const er = await a.client.getEnrollmentRequest({ name });
      a.done();
      const d = agentClient(AgentDeviceService, er.status!.certificate!, keys.keyPem);
      await d.client.replaceDeviceStatus({ name, device: { metadata: { name }, status: { summary: { status: "Online" } } } });
      d.done();
      return performance.now() - t0;
    }

    // Warm-up (JIT, pools), then the measured run with AGENTS in flight at all times.
    for (let i = 0; i < 10; i++) await enrollOne();
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    const cpuBefore = api.cpuMs();
    await Promise.all(
      Array.from({ length: AGENTS }, async () => {
        while (next++ < ENROLLMENTS) latencies.push(await enrollOne());
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const serverCpuPerEnrollment = (api.cpuMs() - cpuBefore) / ENROLLMENTS;
    const rate = ENROLLMENTS / seconds;

    // One device: fresh mTLS connection + RPC each time, vs. RPCs on one open connection.
    const keys = await generateDeviceKey();
    const name = await deviceNameFromPublicKey(keys.publicKey);
    const a = agentClient(AgentEnrollmentService, enroll.cert, enroll.key);
    await a.client.createEnrollmentRequest({
      enrollmentRequest: {
        apiVersion: "v1beta1",
        kind: "EnrollmentRequest",
        metadata: { name },
        spec: { csr: await createCsr(keys, name) },
      },
    });
    await approver.approveEnrollmentRequest({ name, approval: { approved: true } }, opts);
    const cert = (await a.client.getEnrollmentRequest({ name })).status!.certificate!;
    a.done();
    const call = (c: ReturnType<typeof agentClient<typeof AgentDeviceService>>["client"]) =>
      c.replaceDeviceStatus({ name, device: { metadata: { name }, status: { summary: { status: "Online" } } } });
    const fresh: number[] = [];
    for (let i = 0; i < HANDSHAKES; i++) {
      const t0 = performance.now();
      const d = agentClient(AgentDeviceService, cert, keys.keyPem);
      await call(d.client);
      fresh.push(performance.now() - t0);
      d.done();
    }
    const open = agentClient(AgentDeviceService, cert, keys.keyPem);
    await call(open.client);
    const reused: number[] = [];
    for (let i = 0; i < HANDSHAKES; i++) {
      const t0 = performance.now();
      await call(open.client);
      reused.push(performance.now() - t0);
    }
    open.done();
    await api.close();

    const speed = opensslSpeed();
    const f = (n: number) => n.toFixed(1);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
    console.log(
      `\n${ENROLLMENTS} enrollments, ${AGENTS} concurrent agents; API in its own process; Postgres: ${process.env.DATABASE_URL ? "DATABASE_URL" : "embedded"}\n`,
    );
    console.log("| measure | value | baseline (openssl speed ecdsap256, 1 core) | ratio |");
    console.log("|---|---|---|---|");
    console.log(
      `| enrollments/s end to end (key, CSR, request, approval, certificate, first mTLS call) | ${f(rate)} | ${f(speed.sign)} signs/s | one enrollment takes the time of ${(speed.sign / rate).toFixed(0)} ECDSA signs |`,
    );
    console.log(
      `| API server CPU per enrollment (both endpoints, 2 TLS handshakes, CSR checks, signing, 4 writes) | ${f(serverCpuPerEnrollment)} ms | | one core: ${f(1000 / serverCpuPerEnrollment)} enrollments/s |`,
    );
    console.log(
      `| enrollment latency p50 / p99 ms (under ${AGENTS} concurrent) | ${f(quantile(latencies, 0.5))} / ${f(quantile(latencies, 0.99))} | | |`,
    );
    console.log(
      `| fresh mTLS handshake + RPC, mean / p99 ms | ${f(mean(fresh))} / ${f(quantile(fresh, 0.99))} | ${f(1000 / speed.sign)} ms per sign, ${f(1000 / speed.verify)} ms per verify | ${(mean(fresh) / (1000 / speed.verify)).toFixed(0)}× one verify |`,
    );
    console.log(
      `| RPC on an open connection, mean / p99 ms | ${f(mean(reused))} / ${f(quantile(reused, 0.99))} | | handshake share ${f(((mean(fresh) - mean(reused)) / mean(fresh)) * 100)} % |`,
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await db.cleanup();
  }
}

await main();
