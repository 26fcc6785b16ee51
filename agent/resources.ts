// Resource monitors: CPU (from /proc/stat deltas), memory (/proc/meminfo) and disk (statfs of the Disk monitor's
// path under the device root, the root itself by default), sampled every monitor's samplingInterval (one timer at the
// shortest: rules are judged by time above a percentage, so sampling more often changes no outcome); an alert rule fires once usage has stayed above its percentage for its duration
// (flightctl's defaults: Critical 90 %, Warning 80 %; 30 m / 1 h for CPU and memory, 10 m / 30 m for disk).
import type { DeviceResourceStatusJson, DeviceSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { join } from "node:path";
import { durationMs } from "./config.js";
import { cpuTicks, fsUsage, meminfo } from "./host-readings.js";

type Level = "Healthy" | "Warning" | "Critical";
interface Rule {
  severity: "Warning" | "Critical";
  percentage: number;
  durationMs: number;
}

const DEFAULTS: Record<string, Rule[]> = {
  cpu: [
    { severity: "Critical", percentage: 90, durationMs: 30 * 60_000 },
    { severity: "Warning", percentage: 80, durationMs: 60 * 60_000 },
  ],
  memory: [
    { severity: "Critical", percentage: 90, durationMs: 30 * 60_000 },
    { severity: "Warning", percentage: 80, durationMs: 60 * 60_000 },
  ],
  disk: [
    { severity: "Critical", percentage: 90, durationMs: 10 * 60_000 },
    { severity: "Warning", percentage: 80, durationMs: 30 * 60_000 },
  ],
};

export interface ResourceMonitor {
  /** status.resources: {cpu, memory, disk} each Healthy / Warning / Critical. */
  status(): DeviceResourceStatusJson;
  /** Rules from spec.resources (monitorType CPU / Memory / Disk), replacing the defaults per type. */
  configure(spec: DeviceSpecJson): void;
  close(): void;
}

function cpuTimes(): { idle: number; total: number } {
  const t = cpuTicks().get("cpu");
  if (!t) return { idle: 0, total: 0 };
  return { idle: t.idle + t.iowait, total: Object.values(t).reduce((a, b) => a + b, 0) };
}

function memoryPercent(): number {
  const info = meminfo();
  return info.MemTotal ? 100 * (1 - (info.MemAvailable ?? info.MemFree) / info.MemTotal) : 0;
}

function diskPercent(path: string): number {
  const u = fsUsage(path); // the root is not there yet: nothing to measure
  const total = u ? u.used + u.reserved + u.free : 0;
  return u && total ? (100 * (u.used + u.reserved)) / total : 0;
}

/**
 * Samples every `sampleMs` (default 60 s) until a spec sets samplingInterval (the shortest of its monitors'). `sample`
 * may replace the real readings (tests).
 */
export function startResourceMonitor(
  root: string,
  opts: { sampleMs?: number; sample?: () => Record<string, number> } = {},
): ResourceMonitor {
  const rules: Record<string, Rule[]> = { ...DEFAULTS };
  // Since when usage has been above each rule's percentage (undefined: below now).
  const aboveSince = new Map<string, number>();
  let last = cpuTimes();
  const levels: Record<string, Level> = { cpu: "Healthy", memory: "Healthy", disk: "Healthy" };
  let diskPath = root;
  const read: () => Record<string, number> =
    opts.sample ??
    (() => {
      const now = cpuTimes();
      const cpu = now.total > last.total ? 100 * (1 - (now.idle - last.idle) / (now.total - last.total)) : 0;
      last = now;
      return { cpu, memory: memoryPercent(), disk: diskPercent(diskPath) };
    });
  function tick() {
    const usage = read();
    const now = Date.now();
    for (const [res, list] of Object.entries(rules)) {
      let level: Level = "Healthy";
      for (const r of list) {
        const key = `${res}/${r.severity}/${r.percentage}`;
        if ((usage[res] ?? 0) >= r.percentage) {
          if (!aboveSince.has(key)) aboveSince.set(key, now);
          if (now - aboveSince.get(key)! >= r.durationMs && (level === "Healthy" || r.severity === "Critical")) level = r.severity;
        } else {
          aboveSince.delete(key);
        }
      }
      levels[res] = level;
    }
  }
  tick();
  const defaultMs = opts.sampleMs ?? 60_000;
  let everyMs = defaultMs;
  let timer = setInterval(tick, everyMs);
  timer.unref();
  return {
    status: () => ({ ...levels }),
    configure(spec) {
      let wanted = Number.POSITIVE_INFINITY;
      diskPath = root;
      for (const m of spec.resources ?? []) {
        const res = String(m.monitorType ?? "").toLowerCase();
        if (!(res in DEFAULTS)) continue;
        const sampling = durationMs(m.samplingInterval, "resources.samplingInterval", 0);
        if (sampling > 0) wanted = Math.min(wanted, sampling);
        if (res === "disk" && m.path) diskPath = join(root, String(m.path));
        rules[res] = (m.alertRules ?? []).map((r) => ({
          severity: r.severity === "Critical" ? "Critical" : "Warning",
          percentage: Number(r.percentage ?? 100),
          durationMs: durationMs(r.duration, "alertRules.duration", 0),
        }));
      }
      const next = Number.isFinite(wanted) ? wanted : defaultMs;
      if (next !== everyMs) {
        everyMs = next;
        clearInterval(timer);
        timer = setInterval(tick, everyMs);
        timer.unref();
      }
    },
    close: () => clearInterval(timer),
  };
}
