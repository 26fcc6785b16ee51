// Raw readings of the host, shared by the resource monitor (alert levels in status) and telemetry (OTLP series):
// CPU times per CPU (/proc/stat), memory (/proc/meminfo), a file system's usage (statfs) and network counters
// (/proc/net/dev). Like the resource monitor, /proc is the running kernel's (a test or simulator root has none).
import { readFileSync, statfsSync } from "node:fs";
import { join } from "node:path";

/** /proc/stat counts in USER_HZ, which Linux fixes at 100 for user space whatever the kernel's HZ. */
export const USER_HZ = 100;
const CPU_STATES = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"] as const;
export type CpuState = (typeof CPU_STATES)[number];

/** Ticks by state, "cpu" for the sum over CPUs and "cpu0", "cpu1", … for each. */
export function cpuTicks(procDir = "/proc"): Map<string, Record<CpuState, number>> {
  const out = new Map<string, Record<CpuState, number>>();
  for (const line of readFileSync(join(procDir, "stat"), "utf8").split("\n")) {
    if (!line.startsWith("cpu")) continue;
    const [name, ...fields] = line.trim().split(/\s+/);
    out.set(name, Object.fromEntries(CPU_STATES.map((s, i) => [s, Number(fields[i] ?? 0)])) as Record<CpuState, number>);
  }
  return out;
}

/** /proc/meminfo in bytes (the file says kB). */
export function meminfo(procDir = "/proc"): Record<string, number> {
  return Object.fromEntries(
    readFileSync(join(procDir, "meminfo"), "utf8")
      .split("\n")
      .filter((l) => l.includes(":"))
      .map((l) => [l.split(":")[0], parseInt(l.split(":")[1], 10) * 1024]),
  );
}

/** Bytes used, free (to unprivileged users) and reserved for root of the file system holding `path`; undefined when it is not there. */
export function fsUsage(path: string): { used: number; free: number; reserved: number } | undefined {
  try {
    const s = statfsSync(path);
    return { used: (s.blocks - s.bfree) * s.bsize, free: s.bavail * s.bsize, reserved: (s.bfree - s.bavail) * s.bsize };
  } catch {
    return undefined;
  }
}

export interface NetCounters {
  receiveBytes: number;
  transmitBytes: number;
  receivePackets: number;
  transmitPackets: number;
  receiveErrors: number;
  transmitErrors: number;
  receiveDropped: number;
  transmitDropped: number;
}

/** Counters per network interface from /proc/net/dev (an absent file: no interfaces). */
export function netDev(procDir = "/proc"): Map<string, NetCounters> {
  const out = new Map<string, NetCounters>();
  let text: string;
  try {
    text = readFileSync(join(procDir, "net", "dev"), "utf8");
  } catch {
    return out;
  }
  // Two header lines, then "  name: rx bytes packets errs drop fifo frame compressed multicast tx bytes packets errs drop …".
  for (const line of text.split("\n").slice(2)) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (f.length < 12) continue;
    out.set(line.slice(0, colon).trim(), {
      receiveBytes: f[0],
      receivePackets: f[1],
      receiveErrors: f[2],
      receiveDropped: f[3],
      transmitBytes: f[8],
      transmitPackets: f[9],
      transmitErrors: f[10],
      transmitDropped: f[11],
    });
  }
  return out;
}
