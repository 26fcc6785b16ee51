// Many agents in one process for load tests (`flightctl-agent simulate`): each has its own key, data dir, device
// files (in memory) and mTLS connection, a recording executor instead of podman/systemctl, and a shared resource
// monitor (agent/sim-agents.ts), in this thread or spread over worker threads (agent/sim-threads.ts). New
// enrollment requests are approved through the user API with the given token (an installer's is enough).
// Agents' state is kept per service (serviceStateDir: a new service gets new agents, not the old service's
// certificates), and each run claims its agents' directories, so two simulators beside each other never share an
// agent or a `simulator-index`.
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { AgentConfig } from "./config.js";
import { startAgents } from "./sim-agents.js";
import { simulatorFrame } from "./sim-frame.js";
import type { SimulatorOptions } from "./sim-options.js";

export type { SimulatorOptions } from "./sim-options.js";

/**
 * The simulator's state directory for one service: `<baseDir>/<12 hex digits>`, a hash of the service's agent URL
 * and CA. A service set up again (new CA) or another service gets fresh agents rather than ones holding
 * certificates it never issued.
 */
export function serviceStateDir(baseDir: string, config: Pick<AgentConfig, "server" | "caPem">): string {
  const key = createHash("sha256").update(config.server).update("\n").update(config.caPem).digest("hex").slice(0, 12);
  return join(baseDir, key);
}

/** The simulator with every agent in this thread: its agents and their (in-memory) host files are at hand. */
export async function startSimulator(opts: SimulatorOptions) {
  return simulatorFrame(opts, (indexes, onEvent) => startAgents(opts, indexes, onEvent));
}
