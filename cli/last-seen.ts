// `get devices` by when devices were last seen: --last-seen-within / --last-seen-before become a field selector on
// `lastSeen` (filtered by the service, pages and all), --sort-by orders what was listed.
import type { JsonObject } from "@bufbuild/protobuf";
import { UsageError } from "./errors.js";

const UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "10m", "2h", "7d" in milliseconds. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v.trim());
  if (!m) throw new UsageError(`${flag} "${v}": use a duration such as 90s, 10m, 2h or 7d`);
  return Number(m[1]) * UNITS[m[2] as keyof typeof UNITS];
}

/**
 * The field selector with the last-seen filters added: `--last-seen-within D` keeps devices seen in the last D,
 * `--last-seen-before D` those last seen longer than D ago (devices never seen have no lastSeen and match neither;
 * `--field-selector '!lastSeen'` lists them).
 */
export function withLastSeen(
  fieldSelector: string | undefined,
  opts: { within?: string; before?: string },
  now = Date.now(),
): string | undefined {
  const parts = fieldSelector ? [fieldSelector] : [];
  if (opts.within) parts.push(`lastSeen>=${new Date(now - parseDuration("--last-seen-within", opts.within)).toISOString()}`);
  if (opts.before) parts.push(`lastSeen<${new Date(now - parseDuration("--last-seen-before", opts.before)).toISOString()}`);
  return parts.length ? parts.join(",") : undefined;
}

export const SORT_KEYS = ["name", "lastSeen", "creationTimestamp"] as const;

const keyOf = (o: JsonObject, key: (typeof SORT_KEYS)[number]): string => {
  const m = (o.metadata ?? {}) as JsonObject;
  if (key === "name") return String(m.name ?? "");
  if (key === "creationTimestamp") return String(m.creationTimestamp ?? "");
  return String(((o.status ?? {}) as JsonObject).lastSeen ?? "");
};

/** Sorted ascending (oldest first for times; never-seen devices first, as the stalest); ties by name. */
export function sortItems(items: JsonObject[], key: string): JsonObject[] {
  if (!(SORT_KEYS as readonly string[]).includes(key)) throw new UsageError(`--sort-by "${key}": use one of ${SORT_KEYS.join(", ")}`);
  const k = key as (typeof SORT_KEYS)[number];
  const time = (s: string) => (s ? Date.parse(s) : -Infinity);
  return [...items].sort((a, b) => {
    const [x, y] = [keyOf(a, k), keyOf(b, k)];
    const d = k === "name" ? x.localeCompare(y) : time(x) - time(y);
    return d || keyOf(a, "name").localeCompare(keyOf(b, "name"));
  });
}
