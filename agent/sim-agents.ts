// The simulator's agents for a given set of indexes, in this thread: each has its own key, data dir, device files
// (in memory) and mTLS connection, a recording executor instead of podman/systemctl, and a resource monitor shared
// with the others. Used by the simulator's main thread (one thread) or by each of its workers (agent/sim-threads.ts).
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { createAgent, type Agent, type AgentEvent } from "./agent.js";
import { recordingExecutor, type HostFs } from "./host.js";
import { connectSlots } from "./connect-slots.js";
import { memoryFs } from "./memory-fs.js";
import { startResourceMonitor } from "./resources.js";
import { agentDir } from "./sim-claims.js";
import { simulatedHost } from "./sim-host.js";
import type { SimulatorOptions } from "./sim-options.js";
import { memorySpecStore } from "./spec-files.js";

export type AgentsOptions = Omit<SimulatorOptions, "count" | "indexOffset" | "metricsPort" | "summaryIntervalMs">;

/** Starts an agent per index; `onEvent` hears every agent's events with its index. */
export function startAgents(opts: AgentsOptions, indexes: number[], onEvent: (i: number, e: AgentEvent) => void) {
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
  for (const i of indexes) {
    const dir = agentDir(opts.baseDir, i);
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
      // Beside bootc.json, not under root/proc/…: creating those five directories was 0.25 ms of each new agent's start.
      join(dir, "boot_id"),
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
        onEvent: (e) => onEvent(i, e),
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
  return {
    agents,
    hosts,
    /** Resolves when every agent finished starting (enrolled and reported once). */
    started: () => Promise.all(starting).then(() => undefined),
    async stop() {
      stopping = true;
      // Stopping first: an agent still enrolling (e.g. retrying a refused certificate) ends its start on abort.
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(starting);
      await Promise.all(agents.map((a) => a.stop())); // what a start that was under way had begun
      resources.close();
    },
  };
}
