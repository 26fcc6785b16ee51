// Standard 5-field cron (minute hour day-of-month month day-of-week; `*`, `-`, `,`, `/`), evaluated in an IANA time
// zone. Shared by the service (validation) and the agent (update and download windows). Written here because the
// project has no cron library that evaluates in a time zone (graphile-worker's parser is UTC-only and server-side).
import { quote } from "./quote.js";

/** A parsed expression: the allowed values of each field. */
export interface Cron {
  readonly source: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday; 7 is read as 0. */
  readonly weekdays: ReadonlySet<number>;
  /** Whether day-of-month / day-of-week were `*`: when both are restricted a day matches either (Vixie cron rule). */
  readonly anyDay: boolean;
  readonly anyWeekday: boolean;
}

const RANGES: [number, number][] = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

function field(text: string, [min, max]: [number, number]): Set<number> | undefined {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    const m = /^(\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return undefined;
    const lo = m[2] !== undefined ? Number(m[2]) : min;
    // "5/10" means 5, 15, 25, … up to the field's end, as in common crons.
    const hi = m[3] !== undefined ? Number(m[3]) : m[2] !== undefined && m[4] === undefined ? lo : max;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (lo < min || hi > max || lo > hi || step < 1) return undefined;
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Parses `expr`; returns a problem (for a field violation) instead when it is not a valid 5-field expression. */
export function parseCron(expr: string): Cron | string {
  const parts = expr.trim().split(/\s+/);
  const sets = parts.length === 5 ? parts.map((p, i) => field(p, RANGES[i])) : [];
  if (sets.length !== 5 || sets.some((s) => !s)) {
    return `must be a 5-field cron expression (minute hour day month weekday), got ${quote(expr)}`;
  }
  const [minutes, hours, days, months, wd] = sets as Set<number>[];
  const weekdays = new Set([...wd].map((d) => d % 7));
  return { source: expr, minutes, hours, days, months, weekdays, anyDay: parts[2] === "*", anyWeekday: parts[4] === "*" };
}

/** A wall-clock minute in some zone (month 1–12). */
interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function wallOf(ms: number, timeZone: string): Wall {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
    });
    formatters.set(timeZone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(ms)) if (part.type !== "literal") p[part.type] = Number(part.value);
  return { y: p.year, mo: p.month, d: p.day, h: p.hour, mi: p.minute };
}

const wallMs = (w: Wall) => Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi);
const sameWall = (a: Wall, b: Wall) => wallMs(a) === wallMs(b);

/**
 * The instant a wall-clock minute happens in `timeZone`: the earlier one when the clock goes back (the minute exists
 * twice); when it is skipped (the clock jumps forward), the instant as far past the jump as the minute was into it.
 */
function instantOf(w: Wall, timeZone: string): number {
  const naive = wallMs(w);
  const candidates = [-14, -1, 0, 1, 14].map((hoursAround) => {
    const guess = naive + hoursAround * 3_600_000;
    return naive - (wallMs(wallOf(guess, timeZone)) - guess);
  });
  const exact = candidates.filter((t) => sameWall(wallOf(t, timeZone), w)).sort((a, b) => a - b);
  return exact[0] ?? Math.max(...candidates);
}

const daysIn = (y: number, mo: number) => new Date(Date.UTC(y, mo, 0)).getUTCDate();
const weekday = (w: Wall) => new Date(Date.UTC(w.y, w.mo - 1, w.d)).getUTCDay();

function dayMatches(c: Cron, w: Wall): boolean {
  const dom = c.days.has(w.d);
  const dow = c.weekdays.has(weekday(w));
  if (c.anyDay || c.anyWeekday) return dom && dow;
  return dom || dow;
}

/** How far ahead a schedule is searched before it is said never to fire (as robfig/cron, which flightctl uses). */
const SEARCH_YEARS = 5;

/** The first fire time strictly after `afterMs` (epoch ms) in `timeZone`, or undefined if none in 5 years. */
export function nextFire(c: Cron, afterMs: number, timeZone: string): number | undefined {
  const start = wallOf(afterMs, timeZone);
  // Start at the wall minute after `afterMs`'s own minute (fire times are whole minutes).
  let w: Wall = { ...start };
  const advanceMinute = () => {
    const t = new Date(wallMs(w) + 60_000);
    w = { y: t.getUTCFullYear(), mo: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes() };
  };
  advanceMinute();
  while (w.y <= start.y + SEARCH_YEARS) {
    if (!c.months.has(w.mo)) {
      w = w.mo === 12 ? { y: w.y + 1, mo: 1, d: 1, h: 0, mi: 0 } : { y: w.y, mo: w.mo + 1, d: 1, h: 0, mi: 0 };
      continue;
    }
    if (!dayMatches(c, w)) {
      w = w.d === daysIn(w.y, w.mo) ? { ...w, d: 1, h: 0, mi: 0, ...nextMonth(w) } : { ...w, d: w.d + 1, h: 0, mi: 0 };
      continue;
    }
    if (!c.hours.has(w.h)) {
      w = { ...w, h: w.h, mi: 59 };
      advanceMinute();
      continue;
    }
    if (!c.minutes.has(w.mi)) {
      advanceMinute();
      continue;
    }
    const at = instantOf(w, timeZone);
    if (at > afterMs) return at;
    advanceMinute();
  }
  return undefined;
}

const nextMonth = (w: Wall) => (w.mo === 12 ? { y: w.y + 1, mo: 1 } : { y: w.y, mo: w.mo + 1 });
