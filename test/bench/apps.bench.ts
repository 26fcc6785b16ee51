// npm run bench:apps — applications on real podman: N real agent processes (default 20; BENCH_DEVICES), each with its
// own root dir, data dir and podman storage, enrolled into one API (own process) with its worker, owned by one fleet
// whose template has a compose app of two busybox containers. Measured: the time from the fleet's template change (a
// new image tag for the app) until every device REPORTS the new app Running through the API (status.applications[]
// `web` Running and 2/2 ready, at the rendered version that carries the new image), per device p50/p95 and all.
// Same-run baseline: `podman-compose -p <proj> up -d --force-recreate` run directly for the same N apps (same images
// from the same local registry, same podman storages, all at once), until every container runs the new image.
//
// One podman storage per device (a PodmanEnv each, as a real device has its own): the agent names an app's compose
// project after the app (agent/apps/labels.ts), so N devices of one fleet sharing one storage would share one
// project — one set of containers, each agent counting the others'. The registry, podman binary and runtime are shared.
//
// Knobs: BENCH_DEVICES (20), BENCH_TIMEOUT_S (per phase, 300), BENCH_TOTAL_TIMEOUT_S (all of it, default 4 phases +
// 2 min), BENCH_STATUS_INTERVAL (the agents' status-update-interval, 2s). Postgres: DATABASE_URL or an embedded one.
//
// The bench never hangs: every wait has a deadline (BENCH_TIMEOUT_S, default 300 per phase) and on failure it prints
// one FAILED line naming the phase and, per device that did not converge, what it reports (app status, ready,
// conditions) and what podman runs for it, then cleans up and exits 1. No timing is asserted.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fromJson, toJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { stringify } from "yaml";
import { migrate } from "../../db/migrate.js";
import { type Device, DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { startOciRegistry, type OciRegistry } from "../helpers/oci-registry.js";
import { startPodmanEnv, type PodmanEnv } from "../helpers/podman.js";
import { createNetwork } from "../helpers/podman-network.js";
import { preflightMessage } from "../preflight.js";
import { benchDatabase, startServerProcess } from "./server-process.js";

const DEVICES = Number(process.env.BENCH_DEVICES ?? 20);
const PHASE_TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_S ?? 300) * 1000;
/** The agents' status-update-interval (flightctl's default is 60s; a test-like value keeps the figure about apps). */
const STATUS_INTERVAL = process.env.BENCH_STATUS_INTERVAL ?? "2s";
const APP = "web";
const PROJECT_LABEL = "com.docker.compose.project";
const BASELINE_PROJECT = "baseline";

class BenchFailure extends Error {}

/** Every process this bench starts, killed by the overall watchdog if cleanup itself cannot run. */
const children = new Set<ChildProcess>();

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Polls `check` every `everyMs` until it answers true; past the deadline throws BenchFailure with `report()`. */
async function until(what: string, check: () => Promise<boolean>, report: () => Promise<string>, everyMs = 250): Promise<void> {
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  let last = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = ` (last error: ${(e as Error).message})`;
    }
    if (Date.now() > deadline) throw new BenchFailure(`${what} did not happen within ${s(PHASE_TIMEOUT_MS)}${last}\n${await report()}`);
    await sleep(everyMs);
  }
}

/**
 * `cmd` under a shell that exits on SIGTERM: busybox as PID 1 ignores it, so every stop would wait out podman's
 * grace period (10 s under podman-compose's --force-recreate) and measure that instead.
 */
const onTerm = (cmd: string) => ["/bin/sh", "-c", `trap 'exit 0' TERM; ${cmd} & wait`];

/** The compose network of the app: made beforehand in each device's storage (see below). */
const NETWORK = "bench-apps";

/**
 * The app: two busybox containers without host ports (N copies on one machine), one sleeping, one serving HTTP inside,
 * on a network named in the file (podman-compose uses an existing network of that name instead of creating one).
 */
const composeFile = (image: string) =>
  stringify({
    services: {
      sleeper: { image, command: onTerm("sleep 100000") },
      server: { image, command: onTerm("httpd -f -p 8080 -h /") },
    },
    networks: { default: { name: NETWORK } },
  });

/** Running containers of compose project `project` in `env`: their images. */
async function runningImages(env: PodmanEnv, project: string): Promise<string[]> {
  const out = await env.ok(["ps", "--filter", `label=${PROJECT_LABEL}=${project}`, "--filter", "status=running", "--format", "{{.Image}}"]);
  return out.split("\n").filter(Boolean);
}

/** What podman runs for every project in `env`, for failure reports. */
async function podmanSays(env: PodmanEnv): Promise<string> {
  const r = await env.run(["ps", "-a", "--format", `{{.Names}} {{.Image}} {{.State}} {{index .Labels "${PROJECT_LABEL}"}}`]);
  return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean).join("; ") || "no containers" : `podman ps failed: ${r.stderr.trim()}`;
}

interface Agent {
  index: number;
  env: PodmanEnv;
  child: ChildProcess;
  /** The last warning/error lines it logged. */
  log: string[];
}

async function main() {
  const missing = preflightMessage(["test/bench/apps.bench.ts"], { root: process.cwd() });
  if (missing) throw new BenchFailure(missing);
  if (!(DEVICES >= 1 && DEVICES <= 250)) throw new BenchFailure(`BENCH_DEVICES: expected 1 to 250, got ${process.env.BENCH_DEVICES}`);
  mkdirSync(join(process.cwd(), ".data"), { recursive: true });
  const dataDir = mkdtempSync(join(process.cwd(), ".data", "bench-apps-"));
  chmodSync(dataDir, 0o755);
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch((e) => console.error(`cleanup: ${(e as Error).message}`));
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // --- images: v1 and v2 of the app, different layers (each tag is a real pull), in a local registry
    const registry: OciRegistry = await startOciRegistry();
    cleanups.push(() => registry.close());
    const builder = await startPodmanEnv({ insecureRegistries: [registry.host] });
    const image = (v: number) => `${registry.host}/bench/app:${v}`;
    for (const v of [1, 2]) {
      await builder.buildImage(`localhost/bench-app:${v}`, { files: { "/index.html": `app version ${v}\n` } });
      await builder.pushImage(`localhost/bench-app:${v}`, image(v));
    }
    await builder.close();

    // --- one podman storage per device
    const envs = await Promise.all(Array.from({ length: DEVICES }, () => startPodmanEnv({ insecureRegistries: [registry.host] })));
    // Cleanups run last-in first-out: the storages are closed, then their bridges go. Closed one after the other:
    // parallel `podman system reset`s leave overlay mounts behind (EBUSY).
    const bridges: (() => Promise<void>)[] = [];
    cleanups.push(() => Promise.all(bridges.map((remove) => remove())));
    cleanups.push(async () => {
      for (const e of envs) await e.close();
    });
    // Each storage's network gets its own bridge and subnet (test/helpers/podman-network.ts says why).
    bridges.push(...(await settled(envs.map((env, i) => createNetwork(env, NETWORK, `fcbench${i}`, `10.123.${i}.0/24`)))));

    // --- baseline: podman-compose directly, the same app replaced by its new image in every storage at once
    const composeDir = join(dataDir, "compose");
    mkdirSync(composeDir);
    const baselineFile = (v: number) => {
      const f = join(composeDir, `v${v}.yaml`);
      writeFileSync(f, composeFile(image(v)));
      return f;
    };
    const [base1, base2] = [baselineFile(1), baselineFile(2)];
    /** podman-compose's error lines by storage (it exits 0 when a container fails to start). */
    const composeErrors = new Map<PodmanEnv, string>();
    const compose = async (env: PodmanEnv, args: string[]) => {
      const r = await env.exec("podman-compose", ["-p", BASELINE_PROJECT, ...args], PHASE_TIMEOUT_MS);
      composeErrors.set(
        env,
        `${r.stdout}\n${r.stderr}`
          .split("\n")
          .filter((l) => /error/i.test(l))
          .join(" | "),
      );
      if (r.code !== 0) throw new BenchFailure(`podman-compose ${args.join(" ")} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
    };
    await settled(envs.map((env) => compose(env, ["-f", base1, "up", "-d"])));
    const baselineAt: number[] = new Array(DEVICES).fill(0);
    const b0 = performance.now();
    await settled(
      envs.map(async (env, i) => {
        // podman-compose 1.0.3 keeps existing containers on `up` (it does not compare images): --force-recreate
        // replaces them, as an agent must.
        await compose(env, ["-f", base2, "up", "-d", "--force-recreate"]);
        await until(
          `baseline device ${i}: both containers running ${image(2)}`,
          async () => {
            const imgs = await runningImages(env, BASELINE_PROJECT);
            return imgs.length === 2 && imgs.every((x) => x === image(2));
          },
          async () => `device ${i}: ${await podmanSays(env)}; podman-compose errors: ${composeErrors.get(env) || "none"}`,
          100,
        );
        baselineAt[i] = performance.now() - b0;
      }),
    );
    const baselineMs = performance.now() - b0;
    console.log(
      `baseline: podman-compose up -d --force-recreate for ${DEVICES} apps (2 containers each, new image pulled) → all running in ${s(baselineMs)} (per app p50 ${s(quantile(baselineAt, 0.5))}, p95 ${s(quantile(baselineAt, 0.95))})`,
    );
    // The agents start from the old version and must pull the new image themselves.
    await settled(
      envs.map(async (env) => {
        await compose(env, ["-f", base2, "down"]);
        await env.ok(["rmi", image(2)]);
      }),
    );

    // --- the service: API and worker processes on a scratch database
    const db = await benchDatabase();
    cleanups.push(() => db.cleanup());
    await migrate(db.url);
    const api = await startServerProcess(db.url, dataDir);
    cleanups.push(() => api.close());
    const worker = spawn(process.execPath, ["--import", "tsx", "server/main/worker.ts"], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: "warn", FLIGHTCTL_ROLLOUT_TICK_SECONDS: "1" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    children.add(worker);
    cleanups.push(() => stopChild(worker));
    const ca = readFileSync(api.bundlePath, "utf8");
    const transport = createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca } });
    const opts = { headers: api.headers };
    const devices = createClient(DeviceService, transport);
    const fleets = createClient(FleetService, transport);
    const ers = createClient(EnrollmentRequestService, transport);

    const putFleet = (v: number) =>
      fleets.replaceFleet(
        {
          name: "bench-apps",
          fleet: fromJson(FleetSchema, {
            apiVersion: "v1beta1",
            kind: "Fleet",
            metadata: { name: "bench-apps" },
            spec: {
              selector: { matchLabels: { bench: "apps" } },
              template: {
                spec: {
                  applications: [
                    { name: APP, appType: "compose", inline: [{ path: "docker-compose.yaml", content: composeFile(image(v)) }] },
                  ],
                },
              },
            },
          }),
        },
        opts,
      );
    await putFleet(1);

    // --- N real agent processes, each with its own dirs and podman storage
    const cfg = await createClient(EnrollmentConfigService, transport).getEnrollmentConfig({}, opts);
    const agents: Agent[] = envs.map((env, index) => {
      const dir = join(dataDir, `agent-${index}`);
      mkdirSync(dir);
      writeFileSync(
        join(dir, "config.yaml"),
        stringify({
          "enrollment-service": {
            service: {
              server: `https://localhost:${api.agentPort}`,
              "certificate-authority-data": cfg.enrollmentService!.service!.certificateAuthorityData,
            },
            authentication: {
              "client-certificate-data": cfg.enrollmentService!.authentication!.clientCertificateData,
              "client-key-data": cfg.enrollmentService!.authentication!.clientKeyData,
            },
          },
          "data-dir": join(dir, "data"),
          "test-root-dir": join(dir, "root"),
          "status-update-interval": STATUS_INTERVAL,
          "enrollment-verify-interval": "500ms",
          "spec-fetch-error-base-delay": "500ms",
          "spec-fetch-error-max-delay": "5s",
          "default-labels": { "bench-agent": String(index) },
        }),
      );
      const child = spawn(process.execPath, ["--import", "tsx", "agent/main.ts", "run", "--config", join(dir, "config.yaml")], {
        env: { ...process.env, ...env.env, LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      children.add(child);
      const agent: Agent = { index, env, child, log: [] };
      const keep = (chunk: string) => {
        for (const line of chunk.split("\n").filter(Boolean)) agent.log = [...agent.log.slice(-4), line.slice(0, 400)];
      };
      child.stdout!.setEncoding("utf8").on("data", keep);
      child.stderr!.setEncoding("utf8").on("data", keep);
      return agent;
    });
    cleanups.push(() => Promise.all(agents.map((a) => stopChild(a.child))));
    const t0 = performance.now();

    // Approve each enrollment request as it comes, labelled for the fleet.
    const byName = new Map<string, Agent>();
    await until(
      `${DEVICES} agents enrolled`,
      async () => {
        for (const er of (await ers.listEnrollmentRequests({}, opts)).items) {
          const name = er.metadata!.name!;
          if (byName.has(name)) continue;
          const agent = agents[Number(er.spec?.labels["bench-agent"])];
          if (!agent) continue;
          if (!er.status?.approval?.approved)
            await ers.approveEnrollmentRequest({ name, approval: { approved: true, labels: { bench: "apps" } } }, opts);
          byName.set(name, agent);
        }
        return byName.size === DEVICES;
      },
      async () => agentsReport(agents.filter((a) => ![...byName.values()].includes(a))),
    );
    const agentOf = (d: Device) => byName.get(d.metadata!.name!);

    /** Rendered version carrying image v, by device (asked once a device's render has it). */
    const renderedAt = new Map<string, bigint>();
    const list = async () => (await devices.listDevices({ options: { labelSelector: "bench=apps" } }, opts)).items;
    const converged = async (d: Device, v: number): Promise<boolean> => {
      const name = d.metadata!.name!;
      const key = `${name}@${v}`;
      if (!renderedAt.has(key)) {
        const r = await devices.getRenderedDevice({ name }, opts).catch(() => undefined);
        const spec = r?.device
          ? (toJson(DeviceSchema, r.device) as { spec?: { applications?: { inline?: { content?: string }[] }[] } })
          : undefined;
        if (!spec?.spec?.applications?.some((a) => a.inline?.some((f) => f.content?.includes(image(v))))) return false;
        renderedAt.set(key, BigInt(r!.device!.metadata!.annotations["device-controller/renderedVersion"]));
      }
      const st = d.status;
      const app = st?.applications.find((a) => a.name === APP);
      return String(st?.config?.renderedVersion) === String(renderedAt.get(key)) && app?.status === "Running" && app.ready === "2/2";
    };
    const deviceReport = async (v: number, names?: Set<string>) => {
      const lines: string[] = [];
      for (const d of await list()) {
        const name = d.metadata!.name!;
        if (names && !names.has(name)) continue;
        if (!names && (await converged(d, v).catch(() => false))) continue;
        const st = d.status;
        const app = st?.applications.find((a) => a.name === APP);
        const cond = st?.conditions
          .filter((c) => c.status === "True" || c.reason === "Error")
          .map((c) => `${c.type}=${c.reason}${c.message ? `: ${c.message}` : ""}`)
          .join("; ");
        const agent = agentOf(d);
        lines.push(
          `  ${name} (agent ${agent?.index}): rendered ${renderedAt.get(`${name}@${v}`) ?? "not yet with the new image"}, reported config ${st?.config?.renderedVersion ?? "-"}, ` +
            `updated ${st?.updated?.status ?? "-"}, app ${APP} ${app ? `${app.status} ${app.ready}` : "not reported"}, ` +
            `applications ${st?.applicationsSummary?.status ?? "-"}${st?.applicationsSummary?.info ? ` (${st.applicationsSummary.info})` : ""}; ` +
            `conditions: ${cond || "none"}; podman: ${agent ? await podmanSays(agent.env) : "?"}` +
            (agent?.log.length ? `\n    agent log: ${agent.log.join("\n    agent log: ")}` : ""),
        );
      }
      return lines.length ? `devices not converged:\n${lines.join("\n")}` : "every device converged";
    };

    // --- every device runs v1 (the starting point, not timed)
    await until(
      `${DEVICES} devices reporting ${APP} Running 2/2 with ${image(1)}`,
      async () => {
        const ds = await list();
        return ds.length === DEVICES && (await Promise.all(ds.map((d) => converged(d, 1)))).every(Boolean);
      },
      () => deviceReport(1),
      500,
    );
    console.log(`${DEVICES} agents enrolled and running ${APP} v1 after ${s(performance.now() - t0)}`);

    // --- the measured change: the fleet template's app gets the new image
    const doneAt = new Map<string, number>();
    const c0 = performance.now();
    await putFleet(2);
    await until(
      `${DEVICES} devices reporting ${APP} Running 2/2 with ${image(2)}`,
      async () => {
        for (const d of await list()) {
          if (!doneAt.has(d.metadata!.name!) && (await converged(d, 2))) doneAt.set(d.metadata!.name!, performance.now() - c0);
        }
        return doneAt.size === DEVICES;
      },
      () => deviceReport(2),
    );
    const agentMs = performance.now() - c0;

    // What the devices reported is what podman runs: both containers of each device's project, on the new image.
    for (const d of await list()) {
      const agent = agentOf(d)!;
      const ps = await agent.env.ok(["ps", "--filter", "status=running", "--format", `{{.Image}} {{index .Labels "${PROJECT_LABEL}"}}`]);
      const rows = ps.split("\n").filter(Boolean);
      if (rows.length !== 2 || !rows.every((r) => r.startsWith(`${image(2)} `)))
        throw new BenchFailure(
          `device ${d.metadata!.name} reports ${APP} Running 2/2 on v2 but podman runs: ${rows.join("; ") || "nothing"}`,
        );
    }

    const per = [...doneAt.values()];
    console.log(
      `\n${DEVICES} real agents (own processes, root and data dirs, podman storages), one API + worker; status-update-interval ${STATUS_INTERVAL}\n`,
    );
    console.log(
      "| measure | agents (fleet template change → all report the new app Running) | baseline (podman-compose directly) | ratio |",
    );
    console.log("|---|---|---|---|");
    console.log(`| all ${DEVICES} devices | ${s(agentMs)} | ${s(baselineMs)} | ${(agentMs / baselineMs).toFixed(2)} |`);
    console.log(
      `| per device p50 | ${s(quantile(per, 0.5))} | ${s(quantile(baselineAt, 0.5))} | ${(quantile(per, 0.5) / quantile(baselineAt, 0.5)).toFixed(2)} |`,
    );
    console.log(
      `| per device p95 | ${s(quantile(per, 0.95))} | ${s(quantile(baselineAt, 0.95))} | ${(quantile(per, 0.95) / quantile(baselineAt, 0.95)).toFixed(2)} |`,
    );
  } finally {
    await cleanup();
  }
}

/** Waits for every promise (so nothing is still running when cleanup starts), then throws the first failure. */
async function settled<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

async function agentsReport(agents: Agent[]): Promise<string> {
  if (!agents.length) return "every agent enrolled";
  return `agents not enrolled:\n${agents
    .map(
      (a) => `  agent ${a.index}${a.child.exitCode !== null ? ` (exited ${a.child.exitCode})` : ""}: ${a.log.join(" | ") || "no output"}`,
    )
    .join("\n")}`;
}

/** SIGTERM, then SIGKILL after 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

// The overall deadline: every phase has its own, this catches a hang anywhere else (a stuck cleanup included).
const TOTAL_TIMEOUT_MS = Number(process.env.BENCH_TOTAL_TIMEOUT_S ?? 0) * 1000 || 4 * PHASE_TIMEOUT_MS + 120_000;
setTimeout(() => {
  console.error(`\nbench:apps FAILED: still running after ${s(TOTAL_TIMEOUT_MS)} (BENCH_TOTAL_TIMEOUT_S); killing its processes`);
  for (const c of children) c.kill("SIGKILL");
  process.exit(1);
}, TOTAL_TIMEOUT_MS).unref();

try {
  await main();
} catch (e) {
  console.error(`\nbench:apps FAILED: ${e instanceof BenchFailure ? e.message : ((e as Error).stack ?? String(e))}`);
  process.exit(1);
}
process.exit(0);
