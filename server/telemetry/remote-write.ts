// Prometheus remote write (1.0): every interval, the series updated since the last send go to the configured
// receiver as a snappy-compressed protobuf WriteRequest, one sample each stamped with when the gateway received it.
// A send that fails for a reason worth retrying (network, 5xx, 429) is retried on the next tick with the same samples;
// one the receiver refuses (4xx) is not.
import { create, toBinary } from "@bufbuild/protobuf";
import { compress } from "snappyjs";
import type { Logger } from "pino";
import { WriteRequestSchema } from "../../gen/third_party/prometheus/remote_pb.js";
import type { TimeSeries } from "../../gen/third_party/prometheus/types_pb.js";
import { TimeSeriesSchema } from "../../gen/third_party/prometheus/types_pb.js";
import { samplesOf } from "./exposition.js";
import type { GatewayMetrics } from "./gateway-metrics.js";
import type { Series, SeriesStore } from "./series-store.js";

export interface RemoteWriteOptions {
  url: string;
  intervalMs: number;
  /** Series per request. */
  batchSize?: number;
  store: SeriesStore;
  metrics: GatewayMetrics;
  log: Logger;
}

export interface RemoteWriter {
  /** Sends what changed since the last send (also run every interval). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const byName = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

export function startRemoteWrite(opts: RemoteWriteOptions): RemoteWriter {
  const batchSize = opts.batchSize ?? 2000;
  // The sample time last sent for each series: a series is sent again only once a point updated it since.
  const sent = new WeakMap<Series, number>();
  let running: Promise<void> | undefined;

  async function post(batch: TimeSeries[], mark: [Series, number][]): Promise<void> {
    const body = Buffer.from(compress(toBinary(WriteRequestSchema, create(WriteRequestSchema, { timeseries: batch }))));
    let retry = false;
    try {
      const res = await fetch(opts.url, {
        method: "POST",
        headers: {
          "content-type": "application/x-protobuf",
          "content-encoding": "snappy",
          "x-prometheus-remote-write-version": "0.1.0",
          "user-agent": "flightctl-telemetry-gateway",
        },
        body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = res.ok ? "" : (await res.text()).slice(0, 500);
      if (res.ok) opts.metrics.exports.inc({ exporter: "remote_write", result: "ok" });
      else {
        retry = res.status >= 500 || res.status === 429;
        opts.metrics.exports.inc({ exporter: "remote_write", result: "error" });
        opts.log.warn({ status: res.status, body: text, url: opts.url }, "remote write refused");
      }
    } catch (err) {
      retry = true;
      opts.metrics.exports.inc({ exporter: "remote_write", result: "error" });
      opts.log.warn({ err, url: opts.url }, "remote write failed");
    }
    if (!retry) for (const [s, t] of mark) sent.set(s, t);
  }

  async function flush(): Promise<void> {
    let batch: TimeSeries[] = [];
    let mark: [Series, number][] = [];
    for (const f of opts.store.families()) {
      for (const s of f.series.values()) {
        if ((sent.get(s) ?? -1) >= s.updated) continue;
        const timestamp = BigInt(s.updated);
        for (const [suffix, labels, value] of samplesOf(f, s)) {
          const all: [string, string][] = [["__name__", f.name + suffix] as [string, string], ...labels].sort(byName);
          batch.push(create(TimeSeriesSchema, { labels: all.map(([name, v]) => ({ name, value: v })), samples: [{ value, timestamp }] }));
        }
        mark.push([s, s.updated]);
        if (batch.length >= batchSize) {
          await post(batch, mark);
          batch = [];
          mark = [];
        }
      }
    }
    if (batch.length) await post(batch, mark);
  }

  const tick = () => {
    running ??= flush().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void tick(), opts.intervalMs);
  timer.unref();
  return {
    flush: tick,
    async close() {
      clearInterval(timer);
      await running;
      await tick(); // what came since the last tick
    },
  };
}
