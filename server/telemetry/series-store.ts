// The gateway's current view of every device's metrics as Prometheus series: what the exposition endpoint serves and
// remote write sends. Cumulative sums and histograms replace the held value; delta ones are added to it, so Prometheus
// always sees a cumulative counter. A series not updated for `staleAfterMs` is dropped (a device that went away, or a
// metric it stopped sending). Each device may hold at most `maxSeriesPerDevice` series: points of further new series
// are refused (and counted) while its existing series, and every other device's, keep updating.
import type { ExportMetricsServiceRequest } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import {
  AggregationTemporality,
  DataPointFlags,
  type Metric,
  type NumberDataPoint,
} from "../../gen/third_party/opentelemetry/proto/metrics/v1/metrics_pb.js";
import type { KeyValue } from "../../gen/third_party/opentelemetry/proto/common/v1/common_pb.js";
import { addExpStates, classicBuckets, type ExpState, expStateOf } from "./exp-histogram.js";
import { labelsOf, metricName } from "./prom-names.js";

export type FamilyType = "counter" | "gauge" | "histogram" | "summary";

export interface Series {
  labels: [string, string][];
  /** Which device's limit the series counts against ("<org>/<device>"). */
  device: string;
  /** When a point last updated it (ms since the epoch); the remote-write sample time. */
  updated: number;
  /** counter and gauge: the value; histogram and summary: the sum. */
  value: number;
  /** histogram and summary: the count. */
  count: number;
  /** histogram: upper bounds and per-bucket counts (the last bucket is +Inf). */
  bounds?: number[];
  buckets?: number[];
  /** exponential histogram: its buckets by index, what `bounds` and `buckets` are computed from. */
  exp?: ExpState;
  /** counter and gauge: `name{labels} ` as the exposition writes it (its labels never change). */
  prefix?: string;
  /** summary: quantile → value. */
  quantiles?: [number, number][];
}

export interface Family {
  name: string;
  type: FamilyType;
  help: string;
  series: Map<string, Series>;
}

export interface SeriesLimits {
  maxSeriesPerDevice: number;
  staleAfterMs: number;
}

/** What one export did to the store. */
export interface IngestResult {
  accepted: number;
  /** Points of new series over the device's limit. */
  overLimit: number;
  /** Points the store cannot represent (a name already used by another type). */
  unsupported: number;
}

const SEP = "\u0000";
const keyOf = (labels: [string, string][]) => labels.map(([k, v]) => `${k}=${v}`).join(SEP);
const numberOf = (p: NumberDataPoint) =>
  p.value.case === "asInt" ? Number(p.value.value) : p.value.case === "asDouble" ? p.value.value : 0;
const noValue = (flags: number) => (flags & DataPointFlags.NO_RECORDED_VALUE_MASK) !== 0;

export function createSeriesStore(limits: SeriesLimits) {
  const families = new Map<string, Family>();
  const perDevice = new Map<string, number>();
  let total = 0;

  function familyFor(name: string, type: FamilyType, help: string): Family | undefined {
    let f = families.get(name);
    if (!f) {
      f = { name, type, help, series: new Map() };
      families.set(name, f);
    }
    if (f.type !== type) return undefined;
    if (help && !f.help) f.help = help;
    return f;
  }

  /** The series for `labels`, created when the device has room; undefined when it has none. */
  function seriesFor(f: Family, labels: [string, string][], device: string, now: number): Series | undefined {
    const key = keyOf(labels);
    let s = f.series.get(key);
    if (s) return s;
    const held = perDevice.get(device) ?? 0;
    if (held >= limits.maxSeriesPerDevice) return undefined;
    s = { labels, device, updated: now, value: 0, count: 0 };
    f.series.set(key, s);
    perDevice.set(device, held + 1);
    total++;
    return s;
  }

  /**
   * Every point of one metric into family `f` (undefined: the name is taken by another type, so the points are
   * unsupported): points flagged "no recorded value" are skipped, a point that would be a new series of a device
   * with no room left is counted over the limit, the others are applied by `update` and counted accepted.
   */
  function ingestPoints<P extends { flags: number; attributes: KeyValue[] }>(
    f: Family | undefined,
    points: P[],
    device: string,
    now: number,
    r: IngestResult,
    update: (s: Series, p: P) => void,
  ): void {
    for (const p of points) {
      if (!f) {
        r.unsupported++;
        continue;
      }
      if (noValue(p.flags)) continue;
      const s = seriesFor(f, labelsOf(p.attributes), device, now);
      if (!s) {
        r.overLimit++;
        continue;
      }
      update(s, p);
      s.updated = now;
      r.accepted++;
    }
  }

  function ingestMetric(m: Metric, device: string, now: number, r: IngestResult): void {
    const d = m.data;
    switch (d.case) {
      case "gauge":
      case "sum": {
        const counter = d.case === "sum" && d.value.isMonotonic;
        const delta = d.case === "sum" && d.value.aggregationTemporality === AggregationTemporality.DELTA;
        const f = familyFor(metricName(m.name, m.unit, { gauge: !counter, counter }), counter ? "counter" : "gauge", m.description);
        ingestPoints(f, d.value.dataPoints, device, now, r, (s, p) => {
          s.value = delta ? s.value + numberOf(p) : numberOf(p);
        });
        return;
      }
      case "histogram": {
        const delta = d.value.aggregationTemporality === AggregationTemporality.DELTA;
        const f = familyFor(metricName(m.name, m.unit, { gauge: false, counter: false }), "histogram", m.description);
        ingestPoints(f, d.value.dataPoints, device, now, r, (s, p) => {
          s.exp = undefined;
          const bounds = p.explicitBounds;
          const buckets = p.bucketCounts.map(Number);
          while (buckets.length < bounds.length + 1) buckets.push(0);
          const sameBounds = s.bounds && s.bounds.length === bounds.length && s.bounds.every((b, i) => b === bounds[i]);
          if (delta && sameBounds && s.buckets) {
            for (let i = 0; i < buckets.length; i++) s.buckets[i] += buckets[i];
            s.count += Number(p.count);
            s.value += p.sum ?? 0;
          } else {
            // Cumulative, or a delta series whose buckets changed: what came is the whole state.
            s.bounds = [...bounds];
            s.buckets = buckets;
            s.count = Number(p.count);
            s.value = p.sum ?? 0;
          }
        });
        return;
      }
      case "summary": {
        const f = familyFor(metricName(m.name, m.unit, { gauge: false, counter: false }), "summary", m.description);
        ingestPoints(f, d.value.dataPoints, device, now, r, (s, p) => {
          s.quantiles = p.quantileValues.map((q) => [q.quantile, q.value]);
          s.count = Number(p.count);
          s.value = p.sum;
        });
        return;
      }
      case "exponentialHistogram": {
        // Served as a classic histogram (bounds from the scale); delta points add up at the coarser scale.
        const delta = d.value.aggregationTemporality === AggregationTemporality.DELTA;
        const f = familyFor(metricName(m.name, m.unit, { gauge: false, counter: false }), "histogram", m.description);
        ingestPoints(f, d.value.dataPoints, device, now, r, (s, p) => {
          const point = expStateOf(p);
          const held = delta && s.exp;
          s.exp = held ? addExpStates(s.exp!, point) : point;
          s.count = held ? s.count + Number(p.count) : Number(p.count);
          s.value = held ? s.value + (p.sum ?? 0) : (p.sum ?? 0);
          const { bounds, buckets } = classicBuckets(s.exp);
          s.bounds = bounds;
          s.buckets = buckets;
        });
        return;
      }
      default:
        return;
    }
  }

  /** Drops series not updated since `now - staleAfterMs`; returns how many. */
  function sweep(now = Date.now()): number {
    const cutoff = now - limits.staleAfterMs;
    let dropped = 0;
    for (const [name, f] of families) {
      for (const [key, s] of f.series) {
        if (s.updated >= cutoff) continue;
        f.series.delete(key);
        const left = (perDevice.get(s.device) ?? 1) - 1;
        if (left > 0) perDevice.set(s.device, left);
        else perDevice.delete(s.device);
        dropped++;
      }
      if (f.series.size === 0) families.delete(name);
    }
    total -= dropped;
    return dropped;
  }

  return {
    /** Applies a stamped export from `device` ("<org>/<device>"). */
    ingest(req: ExportMetricsServiceRequest, device: string, now = Date.now()): IngestResult {
      const r: IngestResult = { accepted: 0, overLimit: 0, unsupported: 0 };
      for (const rm of req.resourceMetrics) for (const sm of rm.scopeMetrics) for (const m of sm.metrics) ingestMetric(m, device, now, r);
      return r;
    },
    sweep,
    families: () => families.values(),
    /** Series held in all. */
    get size() {
      return total;
    },
    /** Series held for `device`. */
    seriesOf: (device: string) => perDevice.get(device) ?? 0,
  };
}

export type SeriesStore = ReturnType<typeof createSeriesStore>;
