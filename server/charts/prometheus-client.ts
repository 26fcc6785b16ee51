// A minimal Prometheus HTTP API client: range queries only (GET /api/v1/query_range), which is all the charts need.
import { unavailable } from "../platform/errors.js";

/** One series of a range query: its labels and [unix seconds, value] points. */
export interface RangeSeries {
  metric: Record<string, string>;
  points: { t: number; v: number }[];
}

export interface PrometheusClient {
  queryRange(query: string, range: { start: number; end: number; step: number }): Promise<RangeSeries[]>;
}

interface RangeResponse {
  status?: string;
  error?: string;
  data?: { resultType?: string; result?: { metric: Record<string, string>; values: [number, string][] }[] };
}

export function createPrometheusClient(baseUrl: string, opts: { timeoutMs?: number; fetch?: typeof fetch } = {}): PrometheusClient {
  const base = baseUrl.replace(/\/+$/, "");
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    async queryRange(query, { start, end, step }) {
      const params = new URLSearchParams({ query, start: String(start), end: String(end), step: String(step) });
      let res: Response;
      try {
        res = await doFetch(`${base}/api/v1/query_range?${params}`, { signal: AbortSignal.timeout(timeoutMs) });
      } catch (err) {
        throw unavailable(`cannot reach Prometheus at ${base}: ${(err as Error).message}`);
      }
      const body = (await res.json().catch(() => ({}))) as RangeResponse;
      // The queries are ours, so a refusal is Prometheus's trouble (or a bug), reported as such, never the caller's.
      if (!res.ok || body.status !== "success") {
        throw unavailable(`Prometheus at ${base} answered ${res.status}: ${body.error ?? "no readable answer"}`);
      }
      return (body.data?.result ?? []).map((r) => ({
        metric: r.metric,
        points: r.values.map(([t, v]) => ({ t: Number(t), v: Number(v) })).filter((p) => Number.isFinite(p.v)),
      }));
    },
  };
}
