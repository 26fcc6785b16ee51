// OTLP names and attributes as Prometheus metric names and labels, after the OpenTelemetry → Prometheus compatibility
// rules (the collector's prometheus exporter does the same): invalid characters become "_", the unit becomes a suffix
// (s → _seconds, By → _bytes, 1 → _ratio for gauges), monotonic counters end in _total.
import type { AnyValue, KeyValue } from "../../gen/third_party/opentelemetry/proto/common/v1/common_pb.js";

const UNITS: Record<string, string> = {
  d: "days",
  h: "hours",
  min: "minutes",
  s: "seconds",
  ms: "milliseconds",
  us: "microseconds",
  ns: "nanoseconds",
  By: "bytes",
  KiBy: "kibibytes",
  MiBy: "mebibytes",
  GiBy: "gibibytes",
  TiBy: "tibibytes",
  KBy: "kilobytes",
  MBy: "megabytes",
  GBy: "gigabytes",
  TBy: "terabytes",
  m: "meters",
  V: "volts",
  A: "amperes",
  J: "joules",
  W: "watts",
  g: "grams",
  Cel: "celsius",
  Hz: "hertz",
  "%": "percent",
};
const PER_UNITS: Record<string, string> = { s: "second", m: "minute", h: "hour", d: "day", w: "week", mo: "month", y: "year" };

/** A valid Prometheus name: [a-zA-Z_:][a-zA-Z0-9_:]*, runs of "_" collapsed. */
function sanitize(name: string, allowColon: boolean): string {
  let out = name.replace(allowColon ? /[^a-zA-Z0-9_:]/g : /[^a-zA-Z0-9_]/g, "_").replace(/__+/g, "_");
  if (/^[0-9]/.test(out)) out = `_${out}`;
  return out || "_";
}

/** The unit as name words ("" when none): annotations in braces are dropped, "x/y" reads x_per_y. */
function unitWords(unit: string, gauge: boolean): string {
  const u = unit.replace(/\{[^}]*\}/g, "").trim();
  if (!u) return "";
  if (u === "1") return gauge ? "ratio" : "";
  const [main, per] = u.split("/", 2);
  const words = [main ? (UNITS[main] ?? main) : "", per ? `per_${PER_UNITS[per] ?? UNITS[per] ?? per}` : ""].filter(Boolean).join("_");
  return sanitize(words, false).replace(/^_+|_+$/g, "");
}

/** The Prometheus metric name of an OTLP metric. */
export function metricName(name: string, unit: string, kind: { gauge: boolean; counter: boolean }): string {
  let out = sanitize(name, true).replace(/_+$/, "");
  const words = unitWords(unit, kind.gauge);
  if (words && !out.endsWith(`_${words}`) && !out.includes(`_${words}_`)) out = `${out}_${words}`;
  if (kind.counter && !out.endsWith("_total")) out = `${out}_total`;
  return out;
}

/** Labels the exposition itself writes (histogram buckets, summary quantiles): an attribute may not take them. */
const RESERVED = new Set(["le", "quantile"]);

/**
 * The Prometheus label name of an attribute key: names starting with a digit get "key_", "__" is Prometheus's, and
 * "le"/"quantile" become "exported_le"/"exported_quantile" (a duplicate label would fail the whole scrape, every
 * device's series with it).
 */
export function labelName(key: string): string {
  let out = key.replace(/[^a-zA-Z0-9_]/g, "_");
  if (/^[0-9]/.test(out)) out = `key_${out}`;
  if (out.startsWith("__")) out = `key${out}`;
  if (RESERVED.has(out)) out = `exported_${out}`;
  return out || "key_";
}

/** An attribute value as a label value. */
export function labelValue(v: AnyValue | undefined): string {
  const x = v?.value;
  switch (x?.case) {
    case "stringValue":
      return x.value;
    case "boolValue":
    case "intValue":
    case "doubleValue":
      return String(x.value);
    case "bytesValue":
      return Buffer.from(x.value).toString("base64");
    case "arrayValue":
      return JSON.stringify(x.value.values.map(labelValue));
    case "kvlistValue":
      return JSON.stringify(Object.fromEntries(x.value.values.map((kv) => [kv.key, labelValue(kv.value)])));
    default:
      return "";
  }
}

/**
 * Attributes as sorted label pairs (a later duplicate key wins). Empty values are left out: Prometheus reads an empty
 * label as an absent one, so keeping them would make two names for one series.
 */
export function labelsOf(attrs: KeyValue[]): [string, string][] {
  const m = new Map<string, string>();
  for (const a of attrs) {
    const name = labelName(a.key);
    const value = labelValue(a.value);
    if (value === "") m.delete(name);
    else m.set(name, value);
  }
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}
