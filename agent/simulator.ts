// Many agents in one process for load tests (`flightctl-agent simulate`): each has its own key, data dir, device
// root and mTLS connection, a recording executor instead of podman/systemctl, and a shared resource monitor. New
// enrollment requests are approved through the user API with the given token (an installer's is enough).
import { mkdirSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { createAgent, type Agent, type AgentEvent } from "./agent.js";
import type { AgentConfig } from "./config.js";
import { recordingExecutor } from "./host.js";
import { startResourceMonitor } from "./resources.js";

export interface SimulatorOptions {
  count: number;
  /** Base config (server, CA, enrollment credential, intervals); data and root dirs are per agent under baseDir. */
  config: AgentConfig;
  baseDir: string;
  labels?: Record<string, string>;
  /** User API URL and bearer token used to approve enrollments (omit to leave them for a person). */
  approve?: { api: string; caPem: string; token: string };
  /** Agents start spread over this many ms (default 0). */
  jitterMs?: number;
  /** Serve Prometheus metrics on this port. */
  metricsPort?: number;
  /** Apps whose commands match fail (tests of rollback). */
  failOn?: RegExp;
  /** Let the agents run real console shells on this host (default false: a simulated fleet gives out no shells). */
  console?: boolean;
  log: Logger;
}

export async function startSimulator(opts: SimulatorOptions) {
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
  // An agent reports "disconnected" after every failed attempt too, so the gauge follows each agent's own state
  // (counting events would go below zero while the server is down).
  const onEvent = (e: AgentEvent, state: { on: boolean }) => {
    events.inc({ event: e });
    counts[e] = (counts[e] ?? 0) + 1;
    if (e === "connected" && !state.on) connected.inc();
    if (e === "disconnected" && state.on) connected.dec();
    if (e === "connected" || e === "disconnected") state.on = e === "connected";
  };
  const approver = opts.approve
    ? createClient(EnrollmentRequestService, createGrpcTransport({ baseUrl: opts.approve.api, nodeOptions: { ca: opts.approve.caPem } }))
    : undefined;
  const resources = startResourceMonitor(opts.baseDir);
  const agents: Agent[] = [];
  const starting: Promise<void>[] = [];
  for (let i = 0; i < opts.count; i++) {
    const dir = join(opts.baseDir, `agent-${String(i).padStart(5, "0")}`);
    mkdirSync(join(dir, "root"), { recursive: true });
    const stream = { on: false };
    const agent = createAgent({
      config: { ...opts.config, dataDir: join(dir, "data"), rootDir: join(dir, "root") },
      log: opts.log,
      exec: recordingExecutor({ failOn: opts.failOn }),
      resources,
      console: { enabled: opts.console ?? false },
      labels: { ...opts.labels, "simulator-index": String(i) },
      onEvent: (e) => onEvent(e, stream),
      onEnrollmentRequested: approver
        ? async (name) => {
            await approver
              .approveEnrollmentRequest(
                { name, approval: { approved: true } },
                { headers: { authorization: `Bearer ${opts.approve!.token}` } },
              )
              .catch((e: Error) => {
                if (!/already approved/.test(e.message)) opts.log.warn({ err: e.message, name }, "cannot approve");
              });
          }
        : undefined,
    });
    agents.push(agent);
    const delay = opts.jitterMs ? Math.random() * opts.jitterMs : 0;
    starting.push(
      new Promise((r) => setTimeout(r, delay))
        .then(() => agent.start())
        .catch((e: Error) => opts.log.error({ err: e.message, i }, "agent failed to start")),
    );
  }
  let server: http.Server | undefined;
  if (opts.metricsPort !== undefined) {
    server = http.createServer(async (_req, res) => {
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(await registry.metrics());
    });
    await new Promise<void>((r) => server!.listen(opts.metricsPort, "127.0.0.1", r));
  }
  return {
    agents,
    counts,
    registry,
    /** Resolves when every agent finished starting (enrolled and reported once). */
    started: () => Promise.all(starting).then(() => undefined),
    async stop() {
      await Promise.all(starting);
      await Promise.all(agents.map((a) => a.stop()));
      resources.close();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
