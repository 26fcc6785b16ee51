// The simulator spread over worker threads: a simulator's agents are CPU-bound on its one thread during a connection
// storm (TLS contexts, handshakes, GC of a heap that grows with every agent), so on a machine with more cores its
// agents run in several threads, each with a share of the indexes and its own heap. The main thread keeps what
// must be one: the claims on the agents' directories, the event counts (metrics, summary) and the metrics endpoint.
// Threads, not processes: one pid whose CPU (/proc/<pid>/stat) is every thread's.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { AgentEvent } from "./agent.js";
import { workerEntry, type WorkerEntry } from "./sim-bundle.js";
import { simulatorFrame, type AgentRunner } from "./sim-frame.js";
import type { SimulatorOptions, WorkerOptions } from "./sim-options.js";
import type { FromWorker, ToWorker } from "./sim-worker.js";
import { lateAfter } from "./settle-within.js";

// Young generation of each thread (two semi-spaces and large objects, a third each). A thread's heap grows by ≈ 80 KB
// per agent during a connection storm, nearly all of it live for the agent's life; with V8's default, 48 MB, it was
// scavenged 144 times per thread at 10,000 agents, each copying every live young object; with four times that, 40
// times, in less than half the GC time (RESULTS.md, branch simconn). Up to ≈ 150 MB of RSS more per thread.
const YOUNG_GENERATION_MB = 192;

// How long a thread gets to stop its agents (each closes its streams and connection: well under a second) before it
// is terminated anyway.
const STOP_GRACE_MS = 30_000;

/**
 * Threads for `count` agents when not asked: one below 2,000 agents, else one per CPU. A thread loads the agent's
 * modules again (about 3 s of CPU on a loaded 2-core machine, and tens of MB of heap): at 1,000 agents (14–20 ms of
 * CPU each to connect) two threads cost a third more CPU; from several thousand, a few percent.
 */
export function defaultWorkers(count: number): number {
  return count < 2000 ? 1 : availableParallelism();
}

/** The simulator with its agents in `workers` threads (contiguous shares of the indexes). */
export async function startSimulatorThreads(opts: SimulatorOptions, workers: number) {
  const entry = await workerEntry((err) =>
    opts.log.warn({ err: err.message }, "could not build the simulator threads' bundle: they run the sources (slower)"),
  );
  return simulatorFrame(opts, (indexes, onEvent) => startWorkers(opts, workers, entry, indexes, onEvent));
}

function startWorkers(
  opts: SimulatorOptions,
  workers: number,
  entry: WorkerEntry,
  indexes: number[],
  onEvent: (i: number, e: AgentEvent) => void,
): AgentRunner & { resourceLimits(): (Worker["resourceLimits"] | undefined)[] } {
  const { log, agentLog, ...rest } = opts;
  const n = Math.max(1, Math.min(workers, indexes.length));
  const size = Math.ceil(indexes.length / n);
  const workerOpts: WorkerOptions = {
    ...rest,
    // The limit is across all agents: each thread gets its share.
    connectConcurrency: Math.max(1, Math.ceil((opts.connectConcurrency ?? 100) / n)),
    logLevel: log.level,
    agentLogLevel: (agentLog ?? log).level,
  };
  const threads = Array.from({ length: n }, (_, k) => {
    const w = new Worker(entry.entry, {
      eval: entry.eval,
      resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      workerData: { opts: workerOpts, indexes: indexes.slice(k * size, (k + 1) * size), worker: k },
    });
    let startedOk!: () => void;
    let startFailed!: (e: Error) => void;
    const started = new Promise<void>((res, rej) => {
      startedOk = res;
      startFailed = rej;
    });
    let stopped!: () => void;
    const done = new Promise<void>((res) => (stopped = res));
    w.on("message", (m: FromWorker) => {
      if (m.type === "events") for (const [i, e] of m.events) onEvent(i, e);
      else if (m.type === "started") startedOk();
      else stopped();
    });
    w.on("error", (e) => {
      log.error({ err: e.message, worker: k }, "a simulator thread failed: its agents stopped");
      startFailed(e);
    });
    w.on("exit", (code) => {
      startFailed(new Error(`simulator thread ${k} exited (${code}) before its agents started`));
      stopped();
    });
    return { w, started, done };
  });
  const allStarted = Promise.all(threads.map((t) => t.started)).then(() => undefined);
  allStarted.catch(() => {}); // heard by whoever waits for started(); a thread's failure is logged where it happens
  return {
    started: () => allStarted,
    /** Each thread's V8 limits, as Node reports them (MB). */
    resourceLimits: () => threads.map((t) => t.w.resourceLimits),
    async stop() {
      for (const t of threads) t.w.postMessage({ type: "stop" } satisfies ToWorker);
      const late = await lateAfter(
        threads.map((t) => t.done),
        STOP_GRACE_MS,
      );
      if (late.length) log.warn({ threads: late }, "simulator threads did not stop their agents in 30 s: terminating them");
      await Promise.all(threads.map((t) => t.w.terminate()));
    },
  };
}
