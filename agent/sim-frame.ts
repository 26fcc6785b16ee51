// What a simulator keeps in its main thread whether its agents run there or in worker threads: the claim on its
// agents' directories, the count of their events (Prometheus metrics, the summary line) and its metrics endpoint.
import http from "node:http";
import { Counter, Gauge, Registry } from "prom-client";
import type { AgentEvent } from "./agent.js";
import { claimIndexes, releaseClaims } from "./sim-claims.js";
import type { SimulatorOptions } from "./sim-options.js";

/** The agents, wherever they run: started with their indexes and a sink for their events. */
export interface AgentRunner {
  started(): Promise<void>;
  stop(): Promise<void>;
}

type FrameOptions = Pick<
  SimulatorOptions,
  "count" | "baseDir" | "indexOffset" | "metricsPort" | "summaryIntervalMs" | "log" | "telemetry" | "config"
>;

export async function simulatorFrame<R extends AgentRunner>(
  opts: FrameOptions,
  run: (indexes: number[], onEvent: (i: number, e: AgentEvent) => void) => R,
) {
  if (opts.telemetry && !opts.config.telemetry)
    throw new Error("telemetry: the simulator was asked to send telemetry, but the config has no telemetry.endpoint");
  const registry = new Registry();
  const events = new Counter({
    name: "flightctl_simulator_agent_events_total",
    help: "Agent events by kind",
    labelNames: ["event"],
    registers: [registry],
  });
  const connected = new Gauge({
    name: "flightctl_simulator_agents_connected",
    help: "Agents holding a rendered-device stream",
    registers: [registry],
  });
  const counts: Record<string, number> = {};
  /** Agents whose latest trust failure is of each kind (an agent counted once, however often it retries). */
  const failing = { "server-untrusted": new Set<number>(), "certificate-rejected": new Set<number>() };
  /** Agents connected now. An agent reports "disconnected" after every failed attempt too, so the gauge follows each
   * agent's own state (counting events would go below zero while the server is down). */
  const on = new Set<number>();
  const onEvent = (i: number, e: AgentEvent) => {
    if (e === "server-untrusted" || e === "certificate-rejected") failing[e].add(i);
    if (e === "connected" || e === "enrolled") for (const f of Object.values(failing)) f.delete(i);
    events.inc({ event: e });
    counts[e] = (counts[e] ?? 0) + 1;
    if (e === "connected") on.add(i);
    if (e === "disconnected") on.delete(i);
    connected.set(on.size);
  };
  const offset = opts.indexOffset ?? 0;
  const runId = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const indexes = claimIndexes(opts.baseDir, offset, opts.count, runId);
  if (indexes[0] !== offset || indexes.at(-1) !== offset + opts.count - 1)
    opts.log.info(
      { indexes: `${indexes[0]}…${indexes.at(-1)}` },
      "some indexes from the offset are held by another running simulator: these agents use the next free ones",
    );
  const runner = run(indexes, onEvent);
  const summary = () => ({
    agents: indexes.length,
    events: { ...counts },
    serverUntrusted: failing["server-untrusted"].size,
    certificateRejected: failing["certificate-rejected"].size,
  });
  let lastSummary = "";
  const logSummary = () => {
    const s = summary();
    const text = JSON.stringify(s);
    if (text === lastSummary) return;
    lastSummary = text;
    if (s.serverUntrusted || s.certificateRejected)
      opts.log.error(
        s,
        "simulated agents cannot work with this service: see the agents' error lines; a service set up again needs a fresh enrollment configuration (flightctl enrollmentconfig)",
      );
    else opts.log.info(s, "simulated agents");
  };
  const summaryTimer = opts.summaryIntervalMs === 0 ? undefined : setInterval(logSummary, opts.summaryIntervalMs ?? 30_000);
  summaryTimer?.unref();
  let server: http.Server | undefined;
  if (opts.metricsPort !== undefined) {
    server = http.createServer(async (_req, res) => {
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(await registry.metrics());
    });
    await new Promise<void>((r) => server!.listen(opts.metricsPort, "127.0.0.1", r));
  }
  return {
    ...runner,
    counts,
    /** The agents' simulator indexes (in the order of `agents` where the agents run in this thread). */
    indexes,
    registry,
    /** Counts of events and of agents failing on trust (the periodic summary line). */
    summary,
    logSummary,
    /** Resolves when every agent finished starting (enrolled and reported once). */
    started: () => runner.started(),
    async stop() {
      clearInterval(summaryTimer);
      await runner.stop();
      releaseClaims(opts.baseDir, indexes);
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
