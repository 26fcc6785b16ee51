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

/** The text exposition of `families`. */
export function exposition(families: Iterable<Family>): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.series.size === 0) continue;
    if (f.help) out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.series.values()) {
      for (const [suffix, labels, value] of samplesOf(f, s)) out.push(`${f.name}${suffix}${labelText(labels)} ${formatValue(value)}`);
    }
  }
  return out.length ? `${out.join("\n")}\n` : "";
}
