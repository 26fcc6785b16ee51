// The desired spec's update policy (flightctl's policy manager): an update downloads (prefetch) only inside a window
// of spec.updatePolicy.downloadSchedule and switches (hooks, applications, files, OS) only inside a window of
// updateSchedule. Absent schedules are always open. The windows are evaluated against the agent's clock.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DeviceSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { isSchedule, parseSchedule, windowAt, type UpdateScheduleJson } from "../lib/schedule.js";

export type WindowKind = "download" | "update";

/** How long the agent waits at most before looking at a closed window again (clock changes, a window never opening). */
export const RECHECK_MS = 3_600_000;

/** The update cannot go on yet: `kind`'s window is closed until `opensAt` (epoch ms; undefined: never). */
export class WindowClosed extends Error {
  constructor(
    readonly kind: WindowKind,
    readonly opensAt: number | undefined,
    message: string,
  ) {
    super(message.slice(0, 250));
  }
}

/** "2026-01-01 03:00" in `timeZone`. */
const wallTime = (ms: number, timeZone: string) =>
  new Intl.DateTimeFormat("sv-SE", { timeZone, dateStyle: "short", timeStyle: "short", hourCycle: "h23" }).format(ms);

/** Throws WindowClosed unless `kind`'s window of the desired spec is open at `now`. */
export function checkWindow(kind: WindowKind, version: number, spec: DeviceSpecJson, now: number): void {
  const json: UpdateScheduleJson | undefined =
    kind === "download" ? spec.updatePolicy?.downloadSchedule : spec.updatePolicy?.updateSchedule;
  if (!json) return;
  const schedule = parseSchedule(json);
  const what = `${kind}Schedule ${JSON.stringify(json.at ?? "")} in ${isSchedule(schedule) ? schedule.timeZone : json.timeZone}`;
  if (!isSchedule(schedule)) {
    // The service refuses these; a spec that still has one waits (never applied half-way) and says why.
    throw new WindowClosed(
      kind,
      undefined,
      `Version ${version} waits: its ${kind} schedule is invalid (${Object.values(schedule).join("; ")})`,
    );
  }
  const w = windowAt(schedule, now);
  if (w.open) return;
  const doing = kind === "download" ? "to download" : "downloaded, waiting to update";
  if (w.opensAt === undefined) throw new WindowClosed(kind, undefined, `Version ${version} ${doing}: the ${what} never opens`);
  throw new WindowClosed(
    kind,
    w.opensAt,
    `Version ${version} ${doing}: the ${kind} window opens at ${wallTime(w.opensAt, schedule.timeZone)} ${schedule.timeZone} ` +
      `(${new Date(w.opensAt).toISOString()}; ${what}, open ${json.startGraceDuration ?? "1m"})`,
  );
}

/** When to look again: at the window's opening, or after RECHECK_MS if that is later or never. */
export const recheckDelay = (e: WindowClosed, now: number) =>
  e.opensAt === undefined ? RECHECK_MS : Math.min(RECHECK_MS, Math.max(0, e.opensAt - now) + 5);

/**
 * The version whose download window was met (flightctl keeps it per queued version): it then waits for its update
 * window only, also after an agent restart, rather than for the next download window. Kept in
 * `<data-dir>/download-window.json`.
 */
export function downloadMemory(dataDir: string) {
  const file = join(dataDir, "download-window.json");
  // Read when first asked (a spec with a download schedule): most agents never ask, and a missing file's throwing
  // read was part of every agent's start.
  let version: number | undefined | null = null;
  const known = () => {
    if (version !== null) return version;
    try {
      version = Number(JSON.parse(readFileSync(file, "utf8")).version) || undefined;
    } catch {
      version = undefined;
    }
    return version;
  };
  return {
    met: (v: number) => known() === v,
    set(v: number) {
      if (known() === v) return;
      version = v;
      writeFileSync(`${file}.tmp`, JSON.stringify({ version: v }), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    },
  };
}
