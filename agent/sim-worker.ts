// One worker thread of a simulator spread over threads (agent/sim-threads.ts): runs the agents of the indexes it is
// given and sends their events to the main thread in batches (one message per 100 ms, not one per event).
import { parentPort, workerData } from "node:worker_threads";
import { createLogger } from "../lib/logger.js";
import type { AgentEvent } from "./agent.js";
import { startAgents } from "./sim-agents.js";
import type { WorkerOptions } from "./sim-options.js";

export type ToWorker = { type: "stop" };
export type FromWorker = { type: "events"; events: [number, AgentEvent][] } | { type: "started" } | { type: "stopped" };

const port = parentPort!;
const { opts, indexes, worker } = workerData as { opts: WorkerOptions; indexes: number[]; worker: number };
const log = createLogger("flightctl-simulator", opts.logLevel).child({ worker });
const send = (m: FromWorker) => port.postMessage(m);
let batch: [number, AgentEvent][] = [];
let timer: NodeJS.Timeout | undefined;
const flush = () => {
  clearTimeout(timer);
  timer = undefined;
  if (batch.length) send({ type: "events", events: batch });
  batch = [];
};
const agents = startAgents({ ...opts, log, agentLog: log.child({}, { level: opts.agentLogLevel }) }, indexes, (i, e) => {
  batch.push([i, e]);
  timer ??= setTimeout(flush, 100);
});
void agents.started().then(() => {
  flush();
  send({ type: "started" });
});
port.on("message", async (m: ToWorker) => {
  if (m.type !== "stop") return;
  await agents.stop();
  flush();
  send({ type: "stopped" });
});
