// A real TCP load balancer in front of several API replicas: Debian's /usr/sbin/haproxy on a free loopback port, in
// TCP mode (TLS passes through untouched, so the agents' client certificates reach the API that terminates TLS),
// each new connection to the backend holding the fewest (leastconn: agent connections live long), its configuration
// in a temp dir. close() stops it (by its pid) and removes the dir. Each proxied connection holds two file descriptors
// (client and server side), so maxconn is capped by this process's open-files hard limit, which haproxy inherits and
// cannot raise without CAP_SYS_RESOURCE (20,000 on the CI machines: at most ~9,950 connections); `maxConnections` on
// the result says what it got.
//
//   const lb = await startHaproxy({ backends: [a.api.agentPort, b.api.agentPort] });
//   // agents dial https://localhost:${lb.port}
//   await lb.close();
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const HAPROXY_BIN = "/usr/sbin/haproxy";

export interface Haproxy {
  port: number;
  pid: number;
  /** Connections it accepts at once (the asked-for maxconn, capped by the fd limit); more wait in the listen queue. */
  maxConnections: number;
  close(): Promise<void>;
}

/** This process's hard limit on open files (/proc/self/limits), which a child inherits; Infinity if unlimited. */
export function openFilesHardLimit(): number {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  return !m || m[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(m[1]);
}

/** The most connections haproxy can hold under `fdLimit`: two fds each, and ~20 for listeners, servers and itself. */
export function maxConnectionsFor(fdLimit: number): number {
  return Math.floor((fdLimit - 100) / 2);
}

export async function startHaproxy(opts: { backends: number[]; maxConnections?: number }): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), "haproxy-"));
  const port = await freePort();
  const maxconn = Math.min(opts.maxConnections ?? 1000, maxConnectionsFor(openFilesHardLimit()));
  // Long client/server timeouts: an agent's stream is idle between heartbeats (30 s by default) for as long as it lives.
  const config = [
    "global",
    `  maxconn ${maxconn}`,
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 10m",
    "  timeout server 10m",
    `  maxconn ${maxconn}`,
    "frontend agents",
    `  bind 127.0.0.1:${port}`,
    "  default_backend apis",
    "backend apis",
    "  balance leastconn",
    ...opts.backends.map((p, i) => `  server api${i} 127.0.0.1:${p}`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "haproxy.cfg"), config);
  // -db: stay in the foreground (its pid is the one to stop). Not -q: it would hide the alert that says why it exited.
  const child = spawn(HAPROXY_BIN, ["-f", join(dir, "haproxy.cfg"), "-db"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  // The tail only: it also logs while running (a backend down…), for as long as it runs.
  child.stderr!.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-8192)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (up) return { port, pid: child.pid!, maxConnections: maxconn, close };
    await new Promise((r) => setTimeout(r, 100));
  }
  await close();
  throw new Error(`haproxy did not start (exit ${child.exitCode}): ${stderr.trim() || "no output"}`);
}
