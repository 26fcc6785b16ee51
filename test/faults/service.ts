// The service as deployed: flightctl-api, flightctl-worker and flightctl-periodic as separate processes configured by
// their environment (server/config.ts), and the simulated agents in a process of their own, each under a small
// supervisor that restarts it one second after it exits (as systemd's Restart=always would) and records every exit
// the harness did not ask for, with the tail of the process's output saying why.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { onHarnessExit } from "./reaper.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface Exit {
  name: string;
  at: number;
  code: number | null;
  signal: string | null;
  /** The last lines the process wrote. */
  tail: string;
}

export interface Supervised {
  name: string;
  readonly pid: number | undefined;
  /** kill -9 (an exit asked for: not recorded as unasked); the supervisor restarts it. */
  kill9(): void;
  /** Resolves when the current incarnation is ready (its ready probe passes). */
  ready(timeoutMs?: number): Promise<void>;
  /** Every start so far (the first included). */
  readonly starts: number;
  /** Stops it for good. */
  stop(): Promise<void>;
}

export interface SuperviseOptions {
  name: string;
  args: string[];
  env: Record<string, string>;
  /** Passes once the process serves (default: it is running). */
  probe?: () => Promise<boolean>;
  /** Receives exits nobody asked for. */
  onUnaskedExit(e: Exit): void;
  /** Every line the process writes (default: kept only as the tail). */
  onLine?: (line: string) => void;
}

export function supervise(opts: SuperviseOptions): Supervised {
  let child: ChildProcess | undefined;
  let asked = false;
  let stopped = false;
  let starts = 0;
  let tail: string[] = [];
  let restartTimer: NodeJS.Timeout | undefined;
  onHarnessExit(() => child?.kill("SIGKILL"));
  const start = () => {
    starts++;
    asked = false;
    tail = [];
    const c = spawn(process.execPath, ["--import", "tsx", ...opts.args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        tail.push(line.slice(0, 2000));
        if (tail.length > 30) tail.shift();
        opts.onLine?.(line);
      }
    };
    c.stdout!.on("data", onData);
    c.stderr!.on("data", onData);
    c.once("exit", (code, signal) => {
      if (child === c) child = undefined;
      if (stopped) return;
      if (!asked) opts.onUnaskedExit({ name: opts.name, at: Date.now(), code, signal, tail: tail.join("\n") });
      restartTimer = setTimeout(start, 1000);
    });
  };
  start();
  return {
    name: opts.name,
    get pid() {
      return child?.pid;
    },
    get starts() {
      return starts;
    },
    kill9() {
      asked = true;
      child?.kill("SIGKILL");
    },
    async ready(timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (child && child.exitCode === null && (!opts.probe || (await opts.probe().catch(() => false)))) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`${opts.name} not ready after ${timeoutMs} ms; its last output:\n${tail.join("\n")}`);
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      const c = child;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => c.kill("SIGKILL"), 10_000);
        c.once("exit", () => {
          clearTimeout(force);
          resolve();
        });
        c.kill("SIGTERM");
      });
    },
  };
}
