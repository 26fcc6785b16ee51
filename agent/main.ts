// flightctl-agent: `flightctl-agent [run] --config /etc/flightctl/config.yaml` runs the device agent;
// `flightctl-agent simulate --count N` runs N simulated agents in this process (spread over its threads) for load tests.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { defineCommand, runMain } from "citty";
import { createLogger } from "../lib/logger.js";
import { createAgent } from "./agent.js";
import { loadAgentConfig } from "./config.js";
import { serviceStateDir, startSimulator, type SimulatorOptions } from "./simulator.js";
import { defaultWorkers, startSimulatorThreads } from "./sim-threads.js";

function labelsArg(v: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (v ?? "").split(",").filter(Boolean)) {
    const [k, val] = pair.split("=");
    if (!k || val === undefined) throw new Error(`--labels: expected k=v[,k=v], got "${pair}"`);
    out[k.trim()] = val.trim();
  }
  return out;
}

function nonNegative(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: expected a whole number, got "${v}"`);
  return n;
}

/** The agent's log level: LOG_LEVEL (default info), read here at the entry point rather than in the logger. */
const logLevel = () => process.env.LOG_LEVEL || "info";

function onSignals(stop: () => Promise<void>) {
  const handler = () => void stop().then(() => process.exit(0));
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}

const run = defineCommand({
  meta: { name: "run", description: "Run the device agent" },
  args: { config: { type: "string", description: "config.yaml path", default: "/etc/flightctl/config.yaml" } },
  async run({ args }) {
    const log = createLogger("flightctl-agent", logLevel());
    let config = loadAgentConfig(args.config);
    let agent = createAgent({ config, log });
    onSignals(() => agent.stop());
    // SIGHUP (sent by the default afterupdating hook when conf.d changes) starts the agent again with its configuration
    // re-read; without a handler Node would exit.
    let hup = () => {};
    process.on("SIGHUP", () => hup());
    for (;;) {
      const reload = new Promise<true>((resolve) => (hup = () => resolve(true)));
      await agent.start();
      if (!(await Promise.race([agent.done().then(() => false), reload]))) break;
      log.info("SIGHUP: reloading the configuration");
      try {
        config = loadAgentConfig(args.config);
      } catch (e) {
        log.error({ err: (e as Error).message }, "cannot reload the configuration; keeping the current one");
      }
      await agent.stop();
      agent = createAgent({ config, log });
    }
  },
});

const simulate = defineCommand({
  meta: { name: "simulate", description: "Run N simulated agents in this process (load tests)" },
  args: {
    config: { type: "string", description: "config.yaml with the enrollment-service block", required: true },
    count: { type: "string", description: "number of agents", default: "10" },
    labels: { type: "string", description: "labels for every agent, k=v[,k=v]" },
    "data-dir": {
      type: "string",
      description: "base directory for the agents' state (kept per service: <data-dir>/<hash of the service's URL and CA>)",
      default: ".data/simulator",
    },
    "index-offset": {
      type: "string",
      description: "first simulator-index label (default 0; indexes a running simulator holds in the same data dir are skipped)",
    },
    api: { type: "string", description: "user API URL, to approve enrollments" },
    token: { type: "string", description: "bearer token for approvals (or FLIGHTCTL_TOKEN)" },
    "api-ca": { type: "string", description: "CA file for the user API (default: the agent config's CA)" },
    jitter: { type: "string", description: "spread agent starts over this many seconds", default: "0" },
    "connect-concurrency": {
      type: "string",
      description: "connection attempts (TCP + TLS handshake) in progress at once across the agents",
      default: "100",
    },
    workers: {
      type: "string",
      description: "threads the agents are spread over (default: 1 below 2,000 agents, else one per CPU)",
    },
    "metrics-port": { type: "string", description: "serve Prometheus metrics on this loopback port" },
    "summary-interval": { type: "string", description: "seconds between summary lines (while they change)", default: "30" },
    telemetry: {
      type: "boolean",
      description: "every agent sends telemetry as the config's telemetry block says (default: the block is ignored)",
      default: false,
    },
  },
  async run({ args }) {
    const log = createLogger("flightctl-simulator", logLevel());
    const config = loadAgentConfig(args.config);
    const token = args.token ?? process.env.FLIGHTCTL_TOKEN;
    const baseDir = serviceStateDir(args["data-dir"], config);
    log.info({ server: config.server, stateDir: baseDir }, "simulated agents' state for this service");
    const count = Number(args.count);
    const workers = args.workers === undefined ? defaultWorkers(count) : Math.max(1, nonNegative("--workers", args.workers));
    const opts: SimulatorOptions = {
      count,
      indexOffset: args["index-offset"] === undefined ? undefined : nonNegative("--index-offset", args["index-offset"]),
      config,
      baseDir,
      labels: labelsArg(args.labels),
      approve:
        args.api && token
          ? { api: args.api, token, caPem: args["api-ca"] ? readFileSync(args["api-ca"], "utf8") : config.caPem }
          : undefined,
      jitterMs: Number(args.jitter) * 1000,
      connectConcurrency: Math.max(1, nonNegative("--connect-concurrency", args["connect-concurrency"])),
      metricsPort: args["metrics-port"] ? Number(args["metrics-port"]) : undefined,
      log,
      // Hundreds of agents' every step would drown the summary: their warnings and errors by default.
      agentLog: log.child({}, { level: process.env.LOG_LEVEL || "warn" }),
      summaryIntervalMs: nonNegative("--summary-interval", args["summary-interval"]) * 1000,
      telemetry: args.telemetry,
    };
    const sim = workers > 1 ? await startSimulatorThreads(opts, workers) : await startSimulator(opts);
    onSignals(() => sim.stop());
    await sim.started();
    log.info({ agents: sim.indexes.length, workers, events: sim.counts }, "all simulated agents started");
    sim.logSummary();
  },
});

export const main = defineCommand({
  meta: { name: "flightctl-agent", description: "Flight Control device agent" },
  subCommands: { run, simulate },
  args: { config: { type: "string", description: "config.yaml path (for the default run command)" } },
  async run({ args, rawArgs }) {
    if (rawArgs[0] === "run" || rawArgs[0] === "simulate") return;
    await run.run!({ args: { config: args.config ?? "/etc/flightctl/config.yaml" } } as never);
  },
});

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await runMain(main);
