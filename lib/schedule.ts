// flightctl's update and download schedules (spec.updatePolicy.{downloadSchedule,updateSchedule}): a window opens at
// each fire time of the cron expression `at`, evaluated in `timeZone` ("Local" or absent = the host's zone), and
// stays open for `startGraceDuration`. The service validates them with these rules; the agent waits for the windows.
import { nextFire, parseCron, type Cron } from "./cron.js";
import { quote } from "./quote.js";

export interface UpdateScheduleJson {
  at?: string;
  timeZone?: string;
  startGraceDuration?: string;
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("90s", "1h30m", "0") in milliseconds, or undefined when it is not one. */
export function goDurationMs(d: string): number | undefined {
  if (d === "0") return 0;
  if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(d)) return undefined;
  let ms = 0;
  for (const [, n, unit] of d.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

/** The IANA zone a schedule is evaluated in: "Local" (flightctl's default) is the host's zone. */
export function resolveTimeZone(tz: string | undefined): string {
  return !tz || tz === "Local" ? Intl.DateTimeFormat().resolvedOptions().timeZone : tz;
}

export function timeZoneProblem(tz: string): string | undefined {
  if (tz === "Local" || tz === "UTC" || tz === "GMT") return undefined;
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return undefined;
  } catch {
    return `must be an IANA time zone like "Europe/Paris", or "Local", got ${quote(tz)}`;
  }
}

/** A schedule ready to evaluate. */
export interface Schedule {
  cron: Cron;
  timeZone: string;
  graceMs: number;
}

/**
 * The smallest window: a fire time is a whole minute, so the window lasts at least that minute (a grace of 0 would
 * otherwise be open for one instant that no timer hits exactly).
 */
const MIN_WINDOW_MS = 60_000;

/** Parses a schedule; returns problems by field name (at, timeZone, startGraceDuration) when it has any. */
export function parseSchedule(s: UpdateScheduleJson): Schedule | Record<string, string> {
  const problems: Record<string, string> = {};
  const cron = parseCron(s.at ?? "");
  if (typeof cron === "string") problems.at = cron;
  const tzProblem = s.timeZone !== undefined ? timeZoneProblem(s.timeZone) : undefined;
  if (tzProblem) problems.timeZone = tzProblem;
  const graceMs = s.startGraceDuration === undefined ? 0 : goDurationMs(s.startGraceDuration);
  if (graceMs === undefined)
    problems.startGraceDuration = `must be a duration like "30s", "10m" or "1h30m", got ${quote(s.startGraceDuration!)}`;
  if (Object.keys(problems).length || typeof cron === "string" || graceMs === undefined) return problems;
  return { cron, timeZone: resolveTimeZone(s.timeZone), graceMs };
}

export const isSchedule = (s: Schedule | Record<string, string>): s is Schedule => "cron" in s && typeof s.cron === "object";

export type WindowState =
  /** Open now, until `closesAt` (epoch ms). */
  | { open: true; closesAt: number }
  /** Closed; opens next at `opensAt`, or never (`undefined`). */
  | { open: false; opensAt: number | undefined };

/** Whether `now` is inside a window of `s`: some fire time f with f ≤ now < f + max(grace, 1 minute). */
export function windowAt(s: Schedule, now: number): WindowState {
  const length = Math.max(s.graceMs, MIN_WINDOW_MS);
  let fire = nextFire(s.cron, now - length, s.timeZone);
  if (fire === undefined || fire > now) return { open: false, opensAt: fire ?? nextFire(s.cron, now, s.timeZone) };
  // The latest fire not after now gives the latest close (windows can overlap when the grace is long).
  for (let i = 0; i < 1000; i++) {
    const later = nextFire(s.cron, fire, s.timeZone);
    if (later === undefined || later > now) break;
    fire = later;
  }
  return { open: true, closesAt: fire + length };
}

/**
 * Problems the service refuses besides the format: a schedule that never fires (e.g. "0 0 30 2 *", February 30th),
 * and, as flightctl, a grace longer than the time between fires (windows would run into each other).
 */
export function scheduleProblems(s: Schedule, now: number): Record<string, string> {
  const fires: number[] = [];
  for (let t: number | undefined = now; fires.length < 5; ) {
    t = nextFire(s.cron, t, s.timeZone);
    if (t === undefined) break;
    fires.push(t);
  }
  if (fires.length === 0) return { at: `never fires: no date matches ${quote(s.cron.source)} (the window would never open)` };
  for (let i = 1; i < fires.length; i++) {
    if (s.graceMs > fires[i] - fires[i - 1]) {
      return {
        startGraceDuration: `must not be longer than the time between two fires of ${quote(s.cron.source)} (${(fires[i] - fires[i - 1]) / 60_000} minutes)`,
      };
    }
  }
  return {};
}
