// OTLP exponential histograms as Prometheus classic histograms. An exponential point counts values in buckets whose
// bounds follow from its scale: with base = 2^(2^-scale), positive bucket index i holds (base^i, base^(i+1)], negative
// bucket index i holds [-base^(i+1), -base^i), and a zero bucket holds [-zeroThreshold, zeroThreshold]. The store
// keeps that state (so delta points of different scales can be added after bringing them to the coarser scale, as the
// OpenTelemetry data model says) and derives the explicit bounds and per-bucket counts the exposition and remote write
// already serve as `_bucket{le}`.
import type {
  ExponentialHistogramDataPoint,
  ExponentialHistogramDataPoint_Buckets,
} from "../../gen/third_party/opentelemetry/proto/metrics/v1/metrics_pb.js";

/** One exponential histogram's counts: bucket index → count, at `scale`. */
export interface ExpState {
  scale: number;
  zeroCount: number;
  zeroThreshold: number;
  positive: Map<number, number>;
  negative: Map<number, number>;
}

function bucketsOf(b: ExponentialHistogramDataPoint_Buckets | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (!b) return out;
  b.bucketCounts.forEach((c, i) => {
    if (c > 0n) out.set(b.offset + i, Number(c));
  });
  return out;
}

/** The state a point describes on its own. */
export function expStateOf(p: ExponentialHistogramDataPoint): ExpState {
  return {
    scale: p.scale,
    zeroCount: Number(p.zeroCount),
    zeroThreshold: p.zeroThreshold,
    positive: bucketsOf(p.positive),
    negative: bucketsOf(p.negative),
  };
}

/** The buckets at a coarser scale: each step down merges pairs of buckets (index >> 1). */
function downscale(m: Map<number, number>, by: number): Map<number, number> {
  if (by === 0) return m;
  const out = new Map<number, number>();
  for (const [i, c] of m) {
    // Math.floor keeps negative indices right (bucket -1 at scale s is in bucket -1 at scale s-1).
    const j = Math.floor(i / 2 ** by);
    out.set(j, (out.get(j) ?? 0) + c);
  }
  return out;
}

/** `a` + `b` (delta temporality), at the coarser of their scales. */
export function addExpStates(a: ExpState, b: ExpState): ExpState {
  const scale = Math.min(a.scale, b.scale);
  const add = (x: Map<number, number>, y: Map<number, number>) => {
    const out = new Map(x);
    for (const [i, c] of y) out.set(i, (out.get(i) ?? 0) + c);
    return out;
  };
  return {
    scale,
    zeroCount: a.zeroCount + b.zeroCount,
    zeroThreshold: Math.max(a.zeroThreshold, b.zeroThreshold),
    positive: add(downscale(a.positive, a.scale - scale), downscale(b.positive, b.scale - scale)),
    negative: add(downscale(a.negative, a.scale - scale), downscale(b.negative, b.scale - scale)),
  };
}

/** base^index = 2^(index · 2^-scale). */
const power = (index: number, scale: number) => 2 ** (index * 2 ** -scale);

/**
 * Explicit upper bounds (ascending) and the count of each bucket, the last one +Inf: negative buckets (most negative
 * first), the zero bucket (le = zeroThreshold), positive buckets. A bound that does not rise above the previous one
 * (float rounding at extreme scales) or overflows is folded into the neighbouring bucket, so `le` values stay
 * distinct and ordered.
 */
export function classicBuckets(st: ExpState): { bounds: number[]; buckets: number[] } {
  const bounds: number[] = [];
  const buckets: number[] = [];
  let overflow = 0; // above the largest finite bound: the +Inf bucket
  let underflow = 0; // below the smallest finite bound: goes into the first bucket
  const push = (le: number, count: number) => {
    if (le === Infinity) overflow += count;
    else if (le === -Infinity) underflow += count;
    else if (bounds.length && le <= bounds[bounds.length - 1]) buckets[buckets.length - 1] += count;
    else {
      bounds.push(le);
      buckets.push(count + underflow);
      underflow = 0;
    }
  };
  for (const i of [...st.negative.keys()].sort((x, y) => y - x)) push(-power(i, st.scale), st.negative.get(i)!);
  push(st.zeroThreshold, st.zeroCount);
  for (const i of [...st.positive.keys()].sort((x, y) => x - y)) push(power(i + 1, st.scale), st.positive.get(i)!);
  buckets.push(overflow);
  return { bounds, buckets };
}
