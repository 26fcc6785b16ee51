// What `flightctl-agent simulate` (agent/simulator.ts) is asked to run: shared by its main thread and its workers.
import type { Logger } from "pino";
import type { AgentConfig } from "./config.js";

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

/** The options a worker thread gets (loggers are made again there, at the same levels). */
export type WorkerOptions = Omit<SimulatorOptions, "log" | "agentLog"> & { logLevel: string; agentLogLevel: string };
