// The simulated agents of bench:fleet-scale in their own process, so the bench's own work (database polls,
// provisioning, API calls) never runs on the simulator's event loop: a change saturates that loop, and polls queued
// behind it measured the loop's lag, not the fleet (issue 23). The parent (fleet-scale.bench.ts) drives it over IPC
// (`simulatorProcess`) and reads its CPU from /proc (utime + stime of the pid: every thread's, the simulator's worker
// threads included). Also counts the agents' HTTP/2 connections where they are made (agents in this thread only).
import { fork, type ChildProcess } from "node:child_process";
import { Session } from "node:inspector/promises";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import type { AgentConfig } from "../../agent/config.js";

interface StartArgs {
  count: number;
  config: AgentConfig;
  baseDir: string;
  jitterMs: number;
}

type Op = "start" | "counts" | "connections" | "profileStart" | "profileStop" | "stop";

/** The parent's handle on the simulator process. */
export function simulatorProcess() {
  const child: ChildProcess = fork(join(dirname(fileURLToPath(import.meta.url)), "sim-process.ts"), [], {
    // BENCH_SIM_NODE_ARGS="--flag …": more node/V8 flags for the simulator (e.g. --trace-gc).
    execArgv: ["--max-old-space-size=6144", ...(process.env.BENCH_SIM_NODE_ARGS ?? "").split(/\s+/).filter(Boolean), "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let next = 0;
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  child.on("message", (m: { id: number; result?: unknown; error?: string }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error) w?.reject(new Error(m.error));
    else w?.resolve(m.result);
  });
  child.on("exit", (code) => {
    for (const w of waiting.values()) w.reject(new Error(`simulator process exited (${code})`));
    waiting.clear();
  });
  const call = <T>(op: Op, arg?: unknown) =>
    new Promise<T>((resolve, reject) => {
      const id = next++;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, op, arg });
    });
  return {
    pid: child.pid!,
    /** Starts `count` agents and resolves once every one started (enrolled and reported once). */
    start: (a: StartArgs) => call<void>("start", a),
    counts: () => call<Record<string, number>>("counts"),
    /** Open agent connections and connections made so far (the stall report). */
    connections: () => call<string>("connections"),
    /** A V8 CPU profile of the simulator's main thread between these two, written to `file` (its worker threads:
     * BENCH_SIM_NODE_ARGS=--cpu-prof, one profile per thread, or BENCH_SIM_WORKERS=1). */
    profileStart: () => call<void>("profileStart"),
    profileStop: (file: string) => call<void>("profileStop", file),
    /** Stops the agents (the process stays for the next start). */
    stop: () => call<void>("stop"),
    kill: () => child.kill("SIGTERM"),
  };
}

// The child: only when run as the forked script.
if (process.send && process.argv[1] === fileURLToPath(import.meta.url)) {
  // Open client connections per client certificate (one per agent expected), counted where they are made.
  const clientSessions = new Map<string, number>();
  let clientConnects = 0;
  {
    const require = createRequire(import.meta.url);
    const h2 = require("node:http2") as typeof import("node:http2");
    const connect = h2.connect;
    h2.connect = ((...args: Parameters<typeof connect>) => {
      const session = connect(...args);
      const opts = args.find((a) => a && typeof a === "object" && ("cert" in (a as object) || "secureContext" in (a as object))) as
        | { cert?: string; secureContext?: object }
        | undefined;
      const key = opts?.cert ?? opts?.secureContext;
      if (key) {
        clientSessions.set(key as string, (clientSessions.get(key as string) ?? 0) + 1);
        clientConnects++;
        session.once("close", () => clientSessions.set(key as string, clientSessions.get(key as string)! - 1));
      }
      return session;
    }) as typeof connect;
    syncBuiltinESMExports();
  }
  const connectionReport = () => {
    let open = 0;
    let agentsWithMore = 0;
    for (const n of clientSessions.values()) {
      open += n;
      if (n > 1) agentsWithMore++;
    }
    return `agent connections open ${open} (agents with more than one: ${agentsWithMore}), made ${clientConnects}`;
  };
  // Imported after the wrapper is in place.
  const { startSimulator } = await import("../../agent/simulator.js");
  const { defaultWorkers, startSimulatorThreads } = await import("../../agent/sim-threads.js");
  let sim: Awaited<ReturnType<typeof startSimulatorThreads> | ReturnType<typeof startSimulator>> | undefined;
  let workers = 1;
  let session: Session | undefined;
  const ops: Record<Op, (arg: never) => Promise<unknown> | unknown> = {
    async start(a: StartArgs) {
      // BENCH_SIM_WORKERS=n: the simulator's threads (default: as `simulate` chooses, one per CPU from 2,000 agents;
      // one under BENCH_SIM_PROF, whose profiles are of this thread).
      workers = Number(process.env.BENCH_SIM_WORKERS ?? (process.env.BENCH_SIM_PROF ? 1 : defaultWorkers(a.count)));
      const opts = { ...a, labels: {}, log: pino({ level: process.env.BENCH_SIM_LOG ?? "silent" }) };
      sim = workers > 1 ? await startSimulatorThreads(opts, workers) : await startSimulator(opts);
      await sim.started();
    },
    counts: () => ({ ...sim?.counts }),
    // Counted where this thread makes them: agents in worker threads connect beyond the wrapper.
    connections: () => (workers > 1 ? `agent connections not counted (agents in ${workers} threads)` : connectionReport()),
    async profileStart() {
      session = new Session();
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
    },
    async profileStop(file: string) {
      const { profile } = await session!.post("Profiler.stop");
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(profile));
      session!.disconnect();
      session = undefined;
    },
    async stop() {
      await sim?.stop();
      sim = undefined;
    },
  };
  process.on("message", async (m: { id: number; op: Op; arg: never }) => {
    try {
      process.send!({ id: m.id, result: await ops[m.op](m.arg) });
    } catch (e) {
      process.send!({ id: m.id, error: (e as Error).stack ?? String(e) });
    }
  });
  process.on("disconnect", () => process.exit(0));
}
