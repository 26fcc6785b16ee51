// A real TCP load balancer in front of several API replicas: Debian's /usr/sbin/haproxy on a free loopback port, in
// TCP mode (TLS passes through untouched, so the agents' client certificates reach the API that terminates TLS),
// each new connection to the backend holding the fewest (leastconn: agent connections live long), its configuration
// in a temp dir. close() stops it (by its pid) and removes the dir.
//
//   const lb = await startHaproxy({ backends: [a.api.agentPort, b.api.agentPort] });
//   // agents dial https://localhost:${lb.port}
//   await lb.close();
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const HAPROXY_BIN = "/usr/sbin/haproxy";

export interface Haproxy {
  port: number;
  pid: number;
  close(): Promise<void>;
}

export async function startHaproxy(opts: { backends: number[]; maxConnections?: number }): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), "haproxy-"));
  const port = await freePort();
  const maxconn = opts.maxConnections ?? 1000;
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
  // -db: stay in the foreground (its pid is the one to stop); -q: no startup notices.
  const child = spawn(HAPROXY_BIN, ["-f", join(dir, "haproxy.cfg"), "-db", "-q"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
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
    if (up) return { port, pid: child.pid!, close };
    await new Promise((r) => setTimeout(r, 100));
  }
  await close();
  throw new Error(`haproxy did not start: ${stderr.trim()}`);
}
