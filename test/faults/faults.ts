// The faults, one after the other on one environment (env.ts): each starts a rollout, lets the load run, injects
// itself, and says when it was injected and when the cause was gone (Postgres accepting connections again, Redis
// back, the killed process serving again).
import type { FaultEnv } from "./env.js";

/** How long Postgres and Redis stay down in (c) and (d) (FC_FAULTS_DOWN_SECONDS, default 30). */
export const DOWN_SECONDS = Number(process.env.FC_FAULTS_DOWN_SECONDS ?? 30);

export interface Fault {
  id: string;
  title: string;
  /** Injects the fault; resolves when its cause is gone. */
  inject(env: FaultEnv): Promise<void>;
}

/** How long before the fault the rollout starts. */
const ROLLOUT_LEAD_MS = 2000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const FAULTS: Fault[] = [
  { id: "a-fast", title: "(a) Postgres restarted fast (pg_ctl restart -m fast)", inject: (e) => e.pg.restart("fast") },
  { id: "a-immediate", title: "(a) Postgres restarted immediate (pg_ctl restart -m immediate)", inject: (e) => e.pg.restart("immediate") },
  {
    id: "b-terminate",
    title: "(b) every service connection terminated (pg_terminate_backend)",
    inject: async (e) => {
      const n = await e.pg.terminateServiceConnections();
      if (n === 0) throw new Error("pg_terminate_backend found no service connection to terminate");
    },
  },
  {
    id: "c-pg-down",
    title: `(c) Postgres down ${DOWN_SECONDS} s`,
    inject: async (e) => {
      await e.pg.stop("fast");
      await sleep(DOWN_SECONDS * 1000);
      await e.pg.start();
    },
  },
  {
    id: "d-redis-down",
    title: `(d) Redis down ${DOWN_SECONDS} s`,
    inject: async (e) => {
      await e.redis.stop();
      await sleep(DOWN_SECONDS * 1000);
      await e.redis.start();
    },
  },
  ...(["api", "worker", "periodic"] as const).map(
    (p): Fault => ({
      id: `e-kill-${p}`,
      title: `(e) kill -9 of flightctl-${p} (restarted by the harness)`,
      inject: async (e) => {
        const proc = e[p];
        const before = proc.starts;
        proc.kill9();
        // The supervisor starts it again a second later; the fault is over when the new one serves.
        while (proc.starts === before) await sleep(100);
        await proc.ready();
      },
    }),
  ),
];

/** What one run of a fault observed, for the checks and the benchmark. */
export interface FaultRun {
  fault: Fault;
  /** The rollout's template content. */
  content: string;
  start: number;
  injected: number;
  recovered: number;
  /** When every agent was first seen back on its stream running the rollout's template after recovery (if it was). */
  convergedAt?: number;
  end: number;
}

/**
 * Runs `fault` on `env`: the load runs `preMs` (a rollout starting 2 s before its end), the fault is injected and
 * removed, the load runs `postMs` more after its cause is gone.
 */
export async function runFault(env: FaultEnv, fault: Fault, timing: { preMs: number; postMs: number }): Promise<FaultRun> {
  // A process a previous fault killed is back first (the supervisor restarts it).
  await Promise.all([env.api.ready(), env.worker.ready(), env.periodic.ready(), env.simulator.ready()]);
  await env.restartWatchers();
  const start = Date.now();
  const content = `rollout ${fault.id} ${start}`;
  // The rollout starts shortly before the fault (a batched rollout of 100 devices takes several 1 s ticks), so it is
  // in progress when the fault hits.
  await sleep(Math.max(0, timing.preMs - ROLLOUT_LEAD_MS));
  await env.rollout(content);
  await sleep(Math.min(timing.preMs, ROLLOUT_LEAD_MS));
  const injected = Date.now();
  await fault.inject(env);
  const recovered = Date.now();
  // The post-fault window, polled for convergence (agents on their streams and on the rollout's template).
  let convergedAt: number | undefined;
  while (Date.now() < recovered + timing.postMs) {
    if (convergedAt === undefined) {
      const [connected, running] = await Promise.all([env.connectedAgents().catch(() => -1), env.runningContent(content).catch(() => -1)]);
      if (connected === env.agents && running === env.agents) convergedAt = Date.now();
    }
    await sleep(Math.min(500, Math.max(0, recovered + timing.postMs - Date.now())));
  }
  return { fault, content, start, injected, recovered, convergedAt, end: Date.now() };
}
