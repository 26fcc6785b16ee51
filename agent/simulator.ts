// Many agents in one process for load tests (`flightctl-agent simulate`): each has its own key, data dir, device
// files (in memory) and mTLS connection, a recording executor instead of podman/systemctl, and a shared resource
// monitor. New
// enrollment requests are approved through the user API with the given token (an installer's is enough).
// Agents' state is kept per service (serviceStateDir: a new service gets new agents, not the old service's
// certificates), and each run claims its agents' directories, so two simulators beside each other never share an
// agent or a `simulator-index`.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { Counter, Gauge, Registry } from "prom-client";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { createAgent, type Agent, type AgentEvent } from "./agent.js";
import type { AgentConfig } from "./config.js";
import { recordingExecutor, type HostFs } from "./host.js";
import { connectSlots } from "./connect-slots.js";
import { memoryFs } from "./memory-fs.js";
import { startResourceMonitor } from "./resources.js";
import { simulatedHost } from "./sim-host.js";
import { memorySpecStore } from "./spec-files.js";

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
  /**
   * Connection attempts (TCP + TLS handshake) in progress at once, across all agents (default 100): a burst of
   * agents connects in turn instead of all handshaking at once and timing out together.
   */
  connectConcurrency?: number;
  /** Serve Prometheus metrics on this port. */
  metricsPort?: number;
  /** Apps whose commands match fail (tests of rollback). */
  failOn?: RegExp;
  /** Let the agents run real console shells on this host (default false: a simulated fleet gives out no shells). */
  console?: boolean;
  /** The first `simulator-index` to use (default 0); indexes already claimed by a running simulator are skipped. */
  indexOffset?: number;
  /**
   * Every agent sends telemetry as the config's `telemetry` block says (default false: the block is ignored, so a
   * device config.yaml can be reused without thousands of exporters).
   */
  telemetry?: boolean;
  /** Log a summary of the agents' events this often while it changes (default 30 s; 0: never). */
  summaryIntervalMs?: number;
  log: Logger;
  /** The agents' own logger (default `log`): `simulate` keeps their per-step lines at warn unless LOG_LEVEL asks. */
  agentLog?: Logger;
}

/**
 * The simulator's state directory for one service: `<baseDir>/<12 hex digits>`, a hash of the service's agent URL
 * and CA. A service set up again (new CA) or another service gets fresh agents rather than ones holding
 * certificates it never issued.
 */
export function serviceStateDir(baseDir: string, config: Pick<AgentConfig, "server" | "caPem">): string {
  const key = createHash("sha256").update(config.server).update("\n").update(config.caPem).digest("hex").slice(0, 12);
  return join(baseDir, key);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Claims `count` agent directories (and so indexes) from `offset` up, skipping those a live simulator holds (its pid
 * and a run id in `claim`). Returns the indexes.
 */
function claimIndexes(baseDir: string, offset: number, count: number, runId: string): number[] {
  const out: number[] = [];
  for (let i = offset; out.length < count; i++) {
    const dir = join(baseDir, `agent-${String(i).padStart(5, "0")}`);
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "claim");
    let holder: { pid: number; run: string } | undefined;
    try {
      holder = JSON.parse(readFileSync(file, "utf8"));
    } catch {
      // unclaimed (or a torn file): free
    }
    if (holder && holder.run !== runId && alive(holder.pid)) continue;
    writeFileSync(file, JSON.stringify({ pid: process.pid, run: runId }));
    out.push(i);
  }
  return out;
}
export async function startSimulator(opts: SimulatorOptions) {
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
  // An agent reports "disconnected" after every failed attempt too, so the gauge follows each agent's own state
  // (counting events would go below zero while the server is down).
  const onEvent = (i: number, state: { on: boolean }) => (e: AgentEvent) => {
    if (e === "server-untrusted" || e === "certificate-rejected") failing[e].add(i);
    if (e === "connected" || e === "enrolled") for (const f of Object.values(failing)) f.delete(i);
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
  const slots = connectSlots(opts.connectConcurrency ?? 100);
  const agents: Agent[] = [];
  /** Each agent's host files (in memory), in the order of `agents`. */
  const hosts: HostFs[] = [];
  let stopping = false;
  const starting: Promise<void>[] = [];
  const runId = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const indexes = claimIndexes(opts.baseDir, opts.indexOffset ?? 0, opts.count, runId);
  if (indexes[0] !== (opts.indexOffset ?? 0) || indexes.at(-1) !== (opts.indexOffset ?? 0) + opts.count - 1)
    opts.log.info(
      { indexes: `${indexes[0]}…${indexes.at(-1)}` },
      "some indexes from the offset are held by another running simulator: these agents use the next free ones",
    );
  for (const i of indexes) {
    const dir = join(opts.baseDir, `agent-${String(i).padStart(5, "0")}`);
    const stream = { on: false };
    const k = agents.length;
    // An OS update reboots the simulated host: a new agent on the same data dir and root replaces this one.
    // The device's files and specs live in memory (no disk write per simulated update), for the simulator's life:
    // a reboot keeps them, a new simulator process starts the devices again from version 0 (the service sends
    // their current version again).
    const fs = memoryFs(join(dir, "root"));
    const specStore = memorySpecStore();
    hosts.push(fs);
    const unpack = (realDir: string, name: string, content: string) => {
      const at = fs.devicePath(realDir);
      if (at !== undefined) fs.write(`${at}/${name}`, content);
    };
    const exec = simulatedHost(
      recordingExecutor({ failOn: opts.failOn, unpack }),
      fs,
      join(dir, "bootc.json"),
      join(dir, "root", "proc", "sys", "kernel", "random", "boot_id"),
      async () => {
        await agents[k].stop();
        if (stopping) return;
        agents[k] = make();
        await agents[k].start().catch((e: Error) => opts.log.error({ err: e.message, i }, "agent failed to start after its reboot"));
      },
    );
    const make = () =>
      createAgent({
        config: {
          ...opts.config,
          telemetry: opts.telemetry ? opts.config.telemetry : undefined,
          dataDir: join(dir, "data"),
          rootDir: join(dir, "root"),
        },
        log: opts.agentLog ?? opts.log,
        fs,
        specStore,
        exec,
        // Its devices run nothing: app status is what the recorded commands started (no podman per device).
        appStatus: "recorded",
        resources,
        connectSlots: slots,
        console: { enabled: opts.console ?? false },
        labels: { ...opts.labels, "simulator-index": String(i) },
        onEvent: onEvent(i, stream),
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
    const agent = make();
    agents.push(agent);
    const delay = opts.jitterMs ? Math.random() * opts.jitterMs : 0;
    starting.push(
      new Promise((r) => setTimeout(r, delay))
        .then(() => agent.start())
        .catch((e: Error) => opts.log.error({ err: e.message, i }, "agent failed to start")),
    );
  }
  const summary = () => ({
    agents: agents.length,
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
    agents,
    counts,
    /** The agents' simulator indexes, in the order of `agents`. */
    indexes,
    /** The agents' host files (kept in memory), in the order of `agents`. */
    hosts,
    registry,
    /** Counts of events and of agents failing on trust (the periodic summary line). */
    summary,
    logSummary,
    /** Resolves when every agent finished starting (enrolled and reported once). */
    started: () => Promise.all(starting).then(() => undefined),
    async stop() {
      stopping = true;
      clearInterval(summaryTimer);
      // Stopping first: an agent still enrolling (e.g. retrying a refused certificate) ends its start on abort.
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(starting);
      await Promise.all(agents.map((a) => a.stop())); // what a start that was under way had begun
      for (const i of indexes) rmSync(join(opts.baseDir, `agent-${String(i).padStart(5, "0")}`, "claim"), { force: true });
      resources.close();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    },
  };
}
