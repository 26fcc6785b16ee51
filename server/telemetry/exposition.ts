// The series store in the Prometheus text exposition format (0.0.4): what the gateway's exporter endpoint serves.
import type { Family, Series } from "./series-store.js";

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeValue = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

/** A sample value as Prometheus writes it. */
export const formatValue = (v: number) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v));

function labelText(labels: [string, string][]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(",")}}`;
}

/** The samples of one series as (name suffix, labels, value): shared by the exposition and remote write. */
export function samplesOf(f: Family, s: Series): [string, [string, string][], number][] {
  switch (f.type) {
    case "counter":
    case "gauge":
      return [["", s.labels, s.value]];
    case "histogram": {
      const out: [string, [string, string][], number][] = [];
      const bounds = s.bounds ?? [];
      let cumulative = 0;
      for (let i = 0; i < (s.buckets?.length ?? 0); i++) {
        cumulative += s.buckets![i];
        const le = i < bounds.length ? formatValue(bounds[i]) : "+Inf";
        out.push(["_bucket", [...s.labels, ["le", le]], cumulative]);
      }
      if (!s.buckets?.length) out.push(["_bucket", [...s.labels, ["le", "+Inf"]], s.count]);
      out.push(["_sum", s.labels, s.value], ["_count", s.labels, s.count]);
      return out;
    }
    case "summary":
      return [
        ...(s.quantiles ?? []).map(([q, v]): [string, [string, string][], number] => ["", [...s.labels, ["quantile", formatValue(q)]], v]),
        ["_sum", s.labels, s.value],
        ["_count", s.labels, s.count],
      ];
  }
}

/** About how many characters each chunk of the exposition holds. */
const CHUNK = 64 * 1024;

/** `name{labels} ` of a counter or gauge series: built once per series, since only its value changes between scrapes. */
function prefixOf(f: Family, s: Series): string {
  if (s.prefix === undefined) s.prefix = `${f.name}${labelText(s.labels)} `;
  return s.prefix;
}

/**
 * The text exposition of `families`, in chunks of about CHUNK characters, so a scrape of hundreds of thousands of series
 * is sent as it is written (and the caller can let other work run between chunks) instead of built as one string.
 * Safe while the store changes between chunks: the families are listed when it starts and each family's series when it
 * is reached, so no family or series is written twice (Prometheus refuses a scrape that repeats one).
 */
export function* expositionChunks(families: Iterable<Family>): Generator<string> {
  let out: string[] = [];
  let size = 0;
  const add = (line: string) => {
    out.push(line);
    size += line.length + 1;
  };
  for (const f of [...families]) {
    if (f.series.size === 0) continue;
    if (f.help) add(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    add(`# TYPE ${f.name} ${f.type}`);
    const plain = f.type === "counter" || f.type === "gauge";
    for (const s of [...f.series.values()]) {
      if (plain) add(prefixOf(f, s) + formatValue(s.value));
      else for (const [suffix, labels, value] of samplesOf(f, s)) add(`${f.name}${suffix}${labelText(labels)} ${formatValue(value)}`);
      if (size >= CHUNK) {
        yield `${out.join("\n")}\n`;
        out = [];
        size = 0;
      }
    }
  }
  if (out.length) yield `${out.join("\n")}\n`;
}

/** The text exposition of `families` as one string. */
export function exposition(families: Iterable<Family>): string {
  return [...expositionChunks(families)].join("");
}
