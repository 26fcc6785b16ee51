// Shared by the benchmarks: a scratch database, and the API server as its own process (as deployed), so client work
// does not share its event loop; it trusts a test OIDC issuer running in the benchmark process, and `headers`
// carry an admin token for it.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { rmSync } from "node:fs";
import pg from "pg";
import { startEmbeddedPostgres } from "../../db/embedded.js";
import { databaseUrl } from "../helpers/db.js";
import { toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify } from "yaml";
import { AuthProviderSchema } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { VersionService } from "../../gen/flightctl/v1beta1/version_service_pb.js";
import { startTestIssuer } from "../helpers/oidc.js";
import { API_MALLOC_ENV } from "../../server/standalone/render.js";

/** A fresh database on DATABASE_URL's server, or an embedded Postgres; `cleanup` drops it. */
export async function benchDatabase(): Promise<{ url: string; cleanup(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const name = `fc_bench_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    await admin.end();
    return {
      url: databaseUrl(process.env.DATABASE_URL, name),
      async cleanup() {
        const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
        await c.connect();
        await c.query(`drop database if exists ${name} with (force)`);
        await c.end();
      },
    };
  }
  const pgDir = join(process.cwd(), ".data", `bench-pg-${Date.now().toString(36)}`);
  const embedded = await startEmbeddedPostgres({ dataDir: pgDir });
  return {
    url: embedded.url,
    cleanup: async () => {
      await embedded.stop();
      rmSync(pgDir, { recursive: true, force: true });
    },
  };
}

/** CPU time (user + system) a process has used so far, ms (Linux /proc). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU ms the whole machine has used so far (all cores, /proc/stat: everything but idle and iowait). */
export function machineCpuMs(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal, in clock ticks of 10 ms
  return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) * 10;
}

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function startServerProcess(databaseUrl: string, dataDir: string, env: Record<string, string> = {}, nodeArgs: string[] = []) {
  const issuer = await startTestIssuer();
  const [port, agentPort] = [await freePort(), await freePort()];
  // Per port: replicas sharing a data dir (and so the PKI) each trust their own issuer.
  const authConfig = join(dataDir, `auth-${port}.yaml`);
  writeFileSync(authConfig, stringify(toJson(AuthProviderSchema, issuer.provider())));
  const token = await issuer.token("bench", { roles: ["flightctl-admin"] }, { expiresIn: 6 * 3600 });
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server process there (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_CPU_PROF] : [];
  if (process.env.BENCH_HEAP_SNAPSHOT) prof.push("--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${process.env.BENCH_HEAP_SNAPSHOT}`);
  // BENCH_API_NODE_ARGS="--flag …": more node/V8 flags for the server process (to try one, e.g. a GC setting).
  const extra = (process.env.BENCH_API_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
  // BENCH_STATEMENTS_FILE in `env`: the process counts its statements there (count-statements.ts).
  const count = env.BENCH_STATEMENTS_FILE ? ["--import", "./test/bench/count-statements.ts"] : [];
  const child = spawn(process.execPath, [...prof, ...nodeArgs, ...extra, "--import", "tsx", ...count, "server/main/api.ts"], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      FLIGHTCTL_DATA_DIR: dataDir,
      FLIGHTCTL_API_ADDRESS: `127.0.0.1:${port}`,
      FLIGHTCTL_AGENT_ADDRESS: `127.0.0.1:${agentPort}`,
      FLIGHTCTL_AGENT_ENDPOINT_URL: `https://localhost:${agentPort}`,
      FLIGHTCTL_AUTH_CONFIG: authConfig,
      LOG_LEVEL: "warn",
      // Benchmarks measure capacity with one user and one address far beyond any rate limit (a bench may turn them on).
      FLIGHTCTL_RATE_LIMITS: "false",
      // The allocator settings flightctl-standalone gives the deployed API (BENCH_API_DEFAULT_MALLOC=1: glibc's own).
      ...(process.env.BENCH_API_DEFAULT_MALLOC === "1" ? {} : API_MALLOC_ENV),
      // BENCH_API_LD_PRELOAD=<lib>: the server process with another allocator (e.g. libjemalloc.so.2), to compare.
      ...(process.env.BENCH_API_LD_PRELOAD ? { LD_PRELOAD: process.env.BENCH_API_LD_PRELOAD } : {}),
      // BENCH_API_ENV="NAME=value …": more environment for the server process only (to try one, e.g. a glibc tunable).
      ...Object.fromEntries(
        (process.env.BENCH_API_ENV ?? "")
          .split(/\s+/)
          .filter(Boolean)
          .map((kv) => kv.split(/=(.*)/s).slice(0, 2)),
      ),
      ...env,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const caPath = join(dataDir, "certs", "ca.crt");
  const headers = { authorization: `Bearer ${token}` };
  const stop = async () => {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
    await issuer.close();
  };
  // Up to 60 s: on a loaded 2-core machine the process alone takes 15–20 s to load its modules and listen.
  for (let i = 0; i < 300; i++) {
    await new Promise((r) => setTimeout(r, 200));
    try {
      const transport = createGrpcTransport({ baseUrl: `https://localhost:${port}`, nodeOptions: { ca: readFileSync(caPath) } });
      await createClient(VersionService, transport).getVersion({}, { headers });
      return {
        port,
        agentPort,
        caPath,
        bundlePath: join(dataDir, "certs", "ca-bundle.crt"),
        headers,
        issuer,
        pid: child.pid!,
        cpuMs: () => cpuMs(child.pid!),
        close: stop,
      };
    } catch {
      // not up yet
    }
  }
  child.kill("SIGKILL");
  await issuer.close();
  throw new Error("API server did not start");
}
