// The series store's arithmetic: delta sums accumulate into a counter, cumulative ones replace it, histograms keep
// their buckets, the per-device series limit holds per device, stale series go and free their device's room.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ExportMetricsServiceRequestSchema } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import { KeyValueSchema } from "../../gen/third_party/opentelemetry/proto/common/v1/common_pb.js";
import { AggregationTemporality } from "../../gen/third_party/opentelemetry/proto/metrics/v1/metrics_pb.js";
import { classicBuckets } from "./exp-histogram.js";
import { exposition } from "./exposition.js";
import { labelsOf, metricName } from "./prom-names.js";
import { createSeriesStore } from "./series-store.js";

const attr = (key: string, value: string) => ({ key, value: { value: { case: "stringValue" as const, value } } });

/** An export of one sum metric with one point per label value of "k". */
function sum(name: string, temporality: AggregationTemporality, values: Record<string, number>) {
  return create(ExportMetricsServiceRequestSchema, {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              {
                name,
                unit: "By",
                data: {
                  case: "sum",
                  value: {
                    isMonotonic: true,
                    aggregationTemporality: temporality,
                    dataPoints: Object.entries(values).map(([k, v]) => ({
                      attributes: [attr("k", k)],
                      value: { case: "asDouble" as const, value: v },
                    })),
                  },
                },
              },
            ],
          },
        ],
      },
    ],
  });
}

test("delta sums accumulate, cumulative sums replace", () => {
  const store = createSeriesStore({ maxSeriesPerDevice: 10, staleAfterMs: 60_000 });
  store.ingest(sum("net.io", AggregationTemporality.DELTA, { a: 2 }), "o/d");
  store.ingest(sum("net.io", AggregationTemporality.DELTA, { a: 5 }), "o/d");
  store.ingest(sum("disk.io", AggregationTemporality.CUMULATIVE, { a: 2 }), "o/d");
  store.ingest(sum("disk.io", AggregationTemporality.CUMULATIVE, { a: 5 }), "o/d");
  const text = exposition(store.families());
  assert.match(text, /^# TYPE net_io_bytes_total counter$/m);
  assert.match(text, /^net_io_bytes_total\{k="a"\} 7$/m);
  assert.match(text, /^disk_io_bytes_total\{k="a"\} 5$/m);
});

test("histograms: cumulative buckets with +Inf, _sum and _count; delta ones add up", () => {
  const store = createSeriesStore({ maxSeriesPerDevice: 10, staleAfterMs: 60_000 });
  const hist = (counts: number[], temporality: AggregationTemporality) =>
    create(ExportMetricsServiceRequestSchema, {
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                {
                  name: "rpc.duration",
                  unit: "s",
                  data: {
                    case: "histogram",
                    value: {
                      aggregationTemporality: temporality,
                      dataPoints: [
                        {
                          count: BigInt(counts.reduce((a, b) => a + b, 0)),
                          sum: 1.5,
                          explicitBounds: [0.1, 1],
                          bucketCounts: counts.map(BigInt),
                        },
                      ],
                    },
                  },
                },
              ],
            },
          ],
        },
      ],
    });
  store.ingest(hist([1, 2, 3], AggregationTemporality.DELTA), "o/d");
  store.ingest(hist([1, 0, 0], AggregationTemporality.DELTA), "o/d");
  const text = exposition(store.families());
  assert.match(text, /^rpc_duration_seconds_bucket\{le="0.1"\} 2$/m);
  assert.match(text, /^rpc_duration_seconds_bucket\{le="1"\} 4$/m);
  assert.match(text, /^rpc_duration_seconds_bucket\{le="\+Inf"\} 7$/m);
  assert.match(text, /^rpc_duration_seconds_count 7$/m);
  assert.match(text, /^rpc_duration_seconds_sum 3$/m);
});

/** An export of one exponential histogram point on "op.latency" (unit s). */
function expHist(
  temporality: AggregationTemporality,
  p: { scale: number; zeroCount?: number; positive?: [number, number[]]; negative?: [number, number[]]; sum: number },
) {
  const buckets = (b?: [number, number[]]) => (b ? { offset: b[0], bucketCounts: b[1].map(BigInt) } : undefined);
  const count = (p.zeroCount ?? 0) + [...(p.positive?.[1] ?? []), ...(p.negative?.[1] ?? [])].reduce((a, b) => a + b, 0);
  return create(ExportMetricsServiceRequestSchema, {
    resourceMetrics: [
      {
        scopeMetrics: [
          {
            metrics: [
              {
                name: "op.latency",
                unit: "s",
                data: {
                  case: "exponentialHistogram",
                  value: {
                    aggregationTemporality: temporality,
                    dataPoints: [
                      {
                        attributes: [attr("k", "a")],
                        count: BigInt(count),
                        sum: p.sum,
                        scale: p.scale,
                        zeroCount: BigInt(p.zeroCount ?? 0),
                        positive: buckets(p.positive),
                        negative: buckets(p.negative),
                      },
                    ],
                  },
                },
              },
            ],
          },
        ],
      },
    ],
  });
}

/** The exposition's lines for op_latency_seconds. */
const expLines = (text: string) => text.split("\n").filter((l) => l.startsWith("op_latency_seconds"));

test("exponential histograms are classic histograms: bounds from the scale, negative, zero and positive buckets, cumulative replaces", () => {
  const store = createSeriesStore({ maxSeriesPerDevice: 10, staleAfterMs: 60_000 });
  // Scale 0: base 2. Positive index 0 is (1, 2], index 1 is (2, 4]; negative index 1 is [-4, -2).
  const r = store.ingest(
    expHist(AggregationTemporality.CUMULATIVE, { scale: 0, zeroCount: 1, positive: [0, [1, 2]], negative: [1, [3]], sum: 2.5 }),
    "o/d",
  );
  assert.deepEqual([r.accepted, r.unsupported], [1, 0]);
  const text = exposition(store.families());
  assert.match(text, /^# TYPE op_latency_seconds histogram$/m);
  assert.deepEqual(expLines(text), [
    'op_latency_seconds_bucket{k="a",le="-2"} 3',
    'op_latency_seconds_bucket{k="a",le="0"} 4',
    'op_latency_seconds_bucket{k="a",le="2"} 5',
    'op_latency_seconds_bucket{k="a",le="4"} 7',
    'op_latency_seconds_bucket{k="a",le="+Inf"} 7',
    'op_latency_seconds_sum{k="a"} 2.5',
    'op_latency_seconds_count{k="a"} 7',
  ]);
  // A cumulative point is the whole state: it replaces the last one.
  store.ingest(expHist(AggregationTemporality.CUMULATIVE, { scale: 0, positive: [2, [4]], sum: 20 }), "o/d");
  assert.deepEqual(expLines(exposition(store.families())), [
    'op_latency_seconds_bucket{k="a",le="0"} 0',
    'op_latency_seconds_bucket{k="a",le="8"} 4',
    'op_latency_seconds_bucket{k="a",le="+Inf"} 4',
    'op_latency_seconds_sum{k="a"} 20',
    'op_latency_seconds_count{k="a"} 4',
  ]);
});

test("delta exponential histograms add up at the coarser scale", () => {
  const store = createSeriesStore({ maxSeriesPerDevice: 10, staleAfterMs: 60_000 });
  // Scale 1 (base √2): indices 0..3 are (1, √2], (√2, 2], (2, 2√2], (2√2, 4]; at scale 0 they are (1, 2] twice and
  // (2, 4] twice.
  store.ingest(expHist(AggregationTemporality.DELTA, { scale: 1, positive: [0, [1, 1, 1, 1]], sum: 10 }), "o/d");
  store.ingest(expHist(AggregationTemporality.DELTA, { scale: 0, positive: [0, [1]], sum: 1.5 }), "o/d");
  assert.deepEqual(expLines(exposition(store.families())), [
    'op_latency_seconds_bucket{k="a",le="0"} 0',
    'op_latency_seconds_bucket{k="a",le="2"} 3',
    'op_latency_seconds_bucket{k="a",le="4"} 5',
    'op_latency_seconds_bucket{k="a",le="+Inf"} 5',
    'op_latency_seconds_sum{k="a"} 11.5',
    'op_latency_seconds_count{k="a"} 5',
  ]);
  // Negative indices merge downwards too: index -1 at scale 1 is (2^-0.5, 1], inside index -1 at scale 0, (0.5, 1].
  store.ingest(expHist(AggregationTemporality.DELTA, { scale: 1, positive: [-1, [2]], sum: 1.8 }), "o/d");
  const lines = expLines(exposition(store.families()));
  assert.ok(lines.includes('op_latency_seconds_bucket{k="a",le="1"} 2'), lines.join("\n"));
  assert.ok(lines.includes('op_latency_seconds_count{k="a"} 7'), lines.join("\n"));
});

test("exponential bucket bounds at fine and coarse scales", () => {
  const at = (scale: number, index: number) =>
    classicBuckets({ scale, zeroCount: 0, zeroThreshold: 0, positive: new Map([[index, 1]]), negative: new Map() }).bounds[1];
  assert.equal(at(2, 3), 2); // base 2^(1/4): index 3's upper bound is 2^(4/4)
  assert.equal(at(-1, 0), 4); // base 4
  assert.equal(at(-2, 1), 256); // base 16: index 1 is (16, 256]
  assert.ok(Math.abs(at(3, -9) - 2 ** (-8 / 8)) < 1e-12);
  // The zero bucket's bound is the zero threshold; a bound beyond float range is folded into +Inf.
  const huge = classicBuckets({ scale: -10, zeroCount: 2, zeroThreshold: 0.001, positive: new Map([[5, 1]]), negative: new Map() });
  assert.deepEqual(huge, { bounds: [0.001], buckets: [2, 1] });
});

test("the series limit is per device: updates of held series go on, other devices are untouched", () => {
  const store = createSeriesStore({ maxSeriesPerDevice: 2, staleAfterMs: 60_000 });
  const r1 = store.ingest(sum("x", AggregationTemporality.CUMULATIVE, { a: 1, b: 1, c: 1 }), "o/d1");
  assert.deepEqual([r1.accepted, r1.overLimit], [2, 1]);
  const r2 = store.ingest(sum("x", AggregationTemporality.CUMULATIVE, { a: 9, b: 9, c: 9 }), "o/d1");
  assert.deepEqual([r2.accepted, r2.overLimit], [2, 1]);
  const r3 = store.ingest(sum("y", AggregationTemporality.CUMULATIVE, { a: 1, b: 1 }), "o/d2");
  assert.deepEqual([r3.accepted, r3.overLimit], [2, 0]);
  assert.equal(store.seriesOf("o/d1"), 2);
  assert.match(exposition(store.families()), /^x_bytes_total\{k="a"\} 9$/m);
});

test("stale series are dropped and free their device's room", () => {
  const store = createSeriesStore({ maxSeriesPerDevice: 1, staleAfterMs: 1000 });
  store.ingest(sum("x", AggregationTemporality.CUMULATIVE, { a: 1 }), "o/d", 0);
  store.ingest(sum("x", AggregationTemporality.CUMULATIVE, { b: 1 }), "o/d", 500);
  assert.equal(store.sweep(900), 0);
  assert.equal(store.sweep(1001), 1);
  assert.equal(store.size, 0);
  assert.equal(exposition(store.families()), "");
  assert.equal(store.ingest(sum("x", AggregationTemporality.CUMULATIVE, { b: 1 }), "o/d", 1100).accepted, 1);
});

test("OTel → Prometheus names", () => {
  assert.equal(metricName("system.cpu.time", "s", { gauge: false, counter: true }), "system_cpu_time_seconds_total");
  assert.equal(metricName("system.memory.utilization", "1", { gauge: true, counter: false }), "system_memory_utilization_ratio");
  assert.equal(metricName("http.server.requests", "{request}", { gauge: false, counter: true }), "http_server_requests_total");
  assert.equal(metricName("net.rate", "By/s", { gauge: true, counter: false }), "net_rate_bytes_per_second");
  assert.equal(metricName("queue_bytes_total", "By", { gauge: false, counter: true }), "queue_bytes_total");
});

test("labels: an attribute named le or quantile cannot collide with the exposition's own; empty values are absent labels", () => {
  assert.deepEqual(
    labelsOf(
      [attr("le", "1"), attr("quantile", "x"), attr("host.name", "h"), attr("empty", ""), attr("2x", "y"), attr("__name__", "z")].map((a) =>
        create(KeyValueSchema, a),
      ),
    ),
    [
      ["exported_le", "1"],
      ["exported_quantile", "x"],
      ["host_name", "h"],
      ["key_2x", "y"],
      ["key__name__", "z"],
    ],
  );
});
