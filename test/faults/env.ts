// One fault-suite environment: its own Postgres and Redis (cluster.ts), the API, worker and periodic processes and a
// simulator process of N agents (service.ts), a fleet owning every agent with a batched rollout policy, writers and
// watchers (load.ts). Used by test/faults/faults.test.ts and npm run bench:faults.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toJson, fromJson } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { stringify } from "yaml";
import { AuthProviderSchema } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { VersionService } from "../../gen/flightctl/v1beta1/version_service_pb.js";
import { freePort } from "../../db/embedded.js";
import { migrate } from "../../db/migrate.js";
import { startTestIssuer, type TestIssuer } from "../helpers/oidc.js";
import { startFaultPostgres, startFaultRedis, type FaultPostgres, type FaultRedis } from "./cluster.js";
import { startWatcher, startWriters, userClients, type ApiTarget, type Watcher, type Writers } from "./load.js";
import { supervise, type Exit, type Supervised } from "./service.js";

export const FLEET = "faults";

export interface FaultEnvOptions {
  agents: number;
  writers: number;
  /** Print the service processes' output (FC_FAULTS_VERBOSE=1). */
  verbose?: boolean;
}

export interface FaultEnv {
  dir: string;
  pg: FaultPostgres;
  redis: FaultRedis;
  issuer: TestIssuer;
  api: Supervised;
  worker: Supervised;
  periodic: Supervised;
  simulator: Supervised;
  target: ApiTarget;
  /** The harness's own connections (spared by pg_terminate_backend). */
  pool: pg.Pool;
  agents: number;
  writers: Writers;
  watchers: Watcher[];
  /** Stops the watchers and starts new ones (each fault's watchers see only its run); resolves once they are synced. */
  restartWatchers(): Promise<void>;
  /** Exits of service or simulator processes nobody asked for. */
  exits: Exit[];
  /** Agents holding their rendered-device stream, from the simulator's metrics. */
  connectedAgents(): Promise<number>;
  /** Changes the fleet's template (a new rollout) to content `content`. */
  rollout(content: string, policy?: boolean): Promise<void>;
  /** Devices of the fleet running a render of the fleet's current template carrying `content`. */
  runningContent(content: string): Promise<number>;
  /** Why devices are not running `content`: counts by whether their render carries it and what they report. */
  rolloutDetail(content: string): Promise<string>;
  close(): Promise<void>;
}

/** `url` with another application_name (so the service's connections can be told from the harness's). */
const withApp = (url: string, app: string) => {
  const u = new URL(url);
  u.searchParams.set("application_name", app);
  return u.toString();
};

const log = (msg: string) => process.stderr.write(`[faults] ${msg}\n`);

export async function startFaultEnv(opts: FaultEnvOptions): Promise<FaultEnv> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "fc-faults-"));
  // As root, Postgres runs as the postgres user, which must reach its data directory inside.
  chmodSync(dir, 0o755);
  const exits: Exit[] = [];
  const started: { close(): Promise<void> }[] = [];
  const closeAll = async () => {
    for (const s of started.reverse()) await s.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pgc = await startFaultPostgres(dir);
    started.push(pgc);
    await migrate(pgc.url);
    const redis = await startFaultRedis();
    started.push(redis);
    const issuer = await startTestIssuer();
    started.push(issuer);
    const pool = new pg.Pool({ connectionString: pgc.url, max: 4 });
    pool.on("error", () => {});
    started.push({ close: () => pool.end() });
    log(`postgres :${pgc.port}, redis ${redis.url}, migrated in ${Date.now() - t0} ms`);

    const authConfig = join(dir, "auth.yaml");
    writeFileSync(authConfig, stringify(toJson(AuthProviderSchema, issuer.provider())));
    const admin = await issuer.token("faults-admin", { roles: ["flightctl-admin"] }, { expiresIn: 6 * 3600 });
    const installer = await issuer.token(
      "faults-installer",
      { roles: ["flightctl-installer"], organizations: ["default"] },
      { expiresIn: 6 * 3600 },
    );
    const [port, agentPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const dataDir = join(dir, "data");
    const target: ApiTarget = { port, caPath: join(dataDir, "certs", "ca.crt"), headers: { authorization: `Bearer ${admin}` } };
    const common = { FLIGHTCTL_DATA_DIR: dataDir, FLIGHTCTL_REDIS_URL: redis.url, LOG_LEVEL: opts.verbose ? "debug" : "warn" };
    const onUnaskedExit = (e: Exit) => {
      exits.push(e);
      // One line: the error that ended it (the whole tail is in the check's report; FC_FAULTS_VERBOSE=1 shows all).
      const why =
        e.tail
          .split("\n")
          .filter((l) => /error|fatal|ECONN|57P/i.test(l))
          .at(-1) ??
        e.tail.split("\n").at(-1) ??
        "";
      log(`${e.name} exited unasked (code ${e.code}, signal ${e.signal}); restarting it. ${why.slice(0, 300)}`);
    };
    const onLine = opts.verbose ? (name: string) => (line: string) => log(`${name}: ${line}`) : () => undefined;
    const version = async () => {
      const t = createGrpcTransport({ baseUrl: `https://localhost:${port}`, nodeOptions: { ca: readFileSync(target.caPath) } });
      await createClient(VersionService, t).getVersion({}, { headers: target.headers, timeoutMs: 2000 });
      return true;
    };
    const api = supervise({
      name: "flightctl-api",
      args: ["server/main/api.ts"],
      env: {
        ...common,
        DATABASE_URL: withApp(pgc.url, "flightctl-api"),
        FLIGHTCTL_API_ADDRESS: `127.0.0.1:${port}`,
        FLIGHTCTL_AGENT_ADDRESS: `127.0.0.1:${agentPort}`,
        FLIGHTCTL_AGENT_ENDPOINT_URL: `https://localhost:${agentPort}`,
        FLIGHTCTL_AUTH_CONFIG: authConfig,
        FLIGHTCTL_WEB_DIR: "",
        // The writers are a load generator under one admin identity (~200 calls/s): the per-user limit would throttle
        // them, which is not what this suite measures (test/rate-limits.test.ts does).
        FLIGHTCTL_RATE_LIMITS: "false",
        FLIGHTCTL_HEARTBEAT_SECONDS: "10",
        FLIGHTCTL_LASTSEEN_FLUSH_SECONDS: "2",
        FLIGHTCTL_WATCH_BOOKMARK_SECONDS: "2",
      },
      probe: version,
      onUnaskedExit,
      onLine: onLine("api"),
    });
    started.push({ close: () => api.stop() });
    // Short rollout ticks and stale-job time, so a rollout and a killed runner's jobs move within the suite's time.
    const workerEnv = (app: string) => ({
      ...common,
      DATABASE_URL: withApp(pgc.url, app),
      FLIGHTCTL_ROLLOUT_TICK_SECONDS: "1",
      FLIGHTCTL_STALE_JOB_SECONDS: "10",
    });
    const worker = supervise({
      name: "flightctl-worker",
      args: ["server/main/worker.ts"],
      env: workerEnv("flightctl-worker"),
      onUnaskedExit,
      onLine: onLine("worker"),
    });
    started.push({ close: () => worker.stop() });
    const periodic = supervise({
      name: "flightctl-periodic",
      args: ["server/main/periodic.ts"],
      env: workerEnv("flightctl-periodic"),
      onUnaskedExit,
      onLine: onLine("periodic"),
    });
    started.push({ close: () => periodic.stop() });
    await api.ready();
    log(`api up in ${Date.now() - t0} ms`);

    // The agents' configuration from the enrollment config the API hands out, with short retry intervals.
    const ca = readFileSync(target.caPath);
    const cfg = await createClient(
      EnrollmentConfigService,
      createGrpcTransport({ baseUrl: `https://localhost:${port}`, nodeOptions: { ca } }),
    ).getEnrollmentConfig({}, { headers: target.headers });
    const agentConfig = join(dir, "agent.yaml");
    writeFileSync(
      agentConfig,
      stringify({
        "enrollment-service": {
          service: {
            server: `https://localhost:${agentPort}`,
            "certificate-authority-data": cfg.enrollmentService!.service!.certificateAuthorityData,
          },
          authentication: {
            "client-certificate-data": cfg.enrollmentService!.authentication!.clientCertificateData,
            "client-key-data": cfg.enrollmentService!.authentication!.clientKeyData,
          },
        },
        "status-update-interval": "10s",
        "enrollment-verify-interval": "500ms",
        "spec-fetch-error-base-delay": "200ms",
        "spec-fetch-error-max-delay": "2s",
      }),
    );
    const metrics = async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
    const connectedAgents = async () => Number(/^flightctl_simulator_agents_connected (\d+)/m.exec(await metrics())?.[1] ?? -1);
    const simulator = supervise({
      name: "flightctl-agent simulate",
      args: [
        "agent/main.ts",
        "simulate",
        "--config",
        agentConfig,
        "--count",
        String(opts.agents),
        "--labels",
        `fleet=${FLEET}`,
        "--data-dir",
        join(dir, "sim"),
        "--api",
        `https://localhost:${port}`,
        "--token",
        installer,
        "--api-ca",
        target.caPath,
        "--metrics-port",
        String(metricsPort),
      ],
      env: { LOG_LEVEL: opts.verbose ? "info" : "warn" },
      probe: async () => (await metrics()).length > 0,
      onUnaskedExit,
      onLine: onLine("simulator"),
    });
    started.push({ close: () => simulator.stop() });
    await Promise.all([simulator.ready(), worker.ready(), periodic.ready()]);
    log(`simulator, worker and periodic up at ${Date.now() - t0} ms`);

    const { fleets } = userClients(target);
    const fleetDoc = (content: string, policy: boolean) =>
      fromJson(FleetSchema, {
        apiVersion: "flightctl.io/v1beta1",
        kind: "Fleet",
        metadata: { name: FLEET },
        spec: {
          selector: { matchLabels: { fleet: FLEET } },
          template: { spec: { config: [{ name: "motd", inline: [{ path: "/etc/motd", content: `${content}\n` }] }] } },
          // Batches, so a template change is a rollout that takes a few ticks (the first template reaches every
          // device at once: a batched rollout selects only devices already reporting).
          ...(policy
            ? { rolloutPolicy: { deviceSelection: { strategy: "BatchSequence", sequence: [{ limit: "20%" }, { limit: "50%" }] } } }
            : {}),
        },
      });
    const rollout = async (content: string, policy = true) => {
      await fleets.replaceFleet({ name: FLEET, fleet: fleetDoc(content, policy) }, { headers: target.headers, timeoutMs: 10_000 });
    };
    const runningContent = async (content: string) =>
      (
        await pool.query(
          `select count(*)::int c from devices d join device_renders r on r.org_id = d.org_id and r.name = d.name
            where d.owner = $1 and d.status->'config'->>'renderedVersion' = r.rendered_version::text
              and r.spec->'config'->0->'inline'->0->>'content' = $2`,
          [`Fleet/${FLEET}`, `${content}\n`],
        )
      ).rows[0].c as number;
    // For a failed convergence: is the content rendered for them (worker), and what version do they report (agent)?
    const rolloutDetail = async (content: string) => {
      const { rows } = await pool.query(
        `select (r.spec->'config'->0->'inline'->0->>'content' = $2) as rendered,
                case when d.status->'config'->>'renderedVersion' = r.rendered_version::text then 'reports it'
                     when d.status->'config'->>'renderedVersion' is null then 'reports none'
                     else 'reports an older version' end as reports,
                count(*)::int as n
           from devices d left join device_renders r on r.org_id = d.org_id and r.name = d.name
          where d.owner = $1 group by 1, 2 order by 3 desc`,
        [`Fleet/${FLEET}`, `${content}\n`],
      );
      return rows.map((r) => `${r.n} ${r.rendered ? "rendered with the content" : "not rendered with it"}, ${r.reports}`).join("; ");
    };
    // Every agent enrolled and reporting before the fleet exists (a batched rollout selects reporting devices only).
    const deadline0 = Date.now() + 180_000;
    const reporting = async () =>
      (
        await pool.query(
          `select count(*)::int n from devices where labels->>'fleet' = $1 and status->'summary'->>'status' not in ('Unknown', 'AwaitingReconnect')`,
          [FLEET],
        )
      ).rows[0].n as number;
    while ((await reporting()) < opts.agents) {
      if (Date.now() > deadline0) throw new Error(`only ${await reporting()} of ${opts.agents} agents enrolled and reporting`);
      await new Promise((r) => setTimeout(r, 500));
    }
    log(`${opts.agents} agents enrolled at ${Date.now() - t0} ms`);
    await rollout("initial", false);
    const deadline = Date.now() + 180_000;
    while ((await runningContent("initial").catch(() => 0)) < opts.agents) {
      if (Date.now() > deadline) {
        const owned = (await pool.query(`select count(*)::int c from devices where owner = $1`, [`Fleet/${FLEET}`])).rows[0].c;
        throw new Error(
          `agents did not converge on the initial template: ${await runningContent("initial")} of ${opts.agents} (${owned} owned by the fleet, ${await connectedAgents()} connected)`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    log(`${opts.agents} agents enrolled and running the fleet's template at ${Date.now() - t0} ms`);

    const writers = startWriters(target, opts.writers);
    const watchers: Watcher[] = [];
    started.push({ close: () => writers.stop() }, { close: async () => void (await Promise.all(watchers.map((w) => w.stop()))) });
    const restartWatchers = async () => {
      await Promise.all(watchers.splice(0).map((w) => w.stop()));
      watchers.push(startWatcher(target, "Device"), startWatcher(target, "Fleet"));
      const until = Date.now() + 30_000;
      while (!watchers.every((w) => w.synced)) {
        if (Date.now() > until) throw new Error("the watchers did not get their initial list within 30 s");
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await restartWatchers();
    return {
      restartWatchers,
      dir,
      pg: pgc,
      redis,
      issuer,
      api,
      worker,
      periodic,
      simulator,
      target,
      pool,
      agents: opts.agents,
      writers,
      watchers,
      exits,
      connectedAgents,
      rollout,
      runningContent,
      rolloutDetail,
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}
