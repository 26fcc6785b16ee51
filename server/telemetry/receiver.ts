// What every OTLP export goes through, whichever protocol brought it (gRPC on :4317, OTLP/HTTP on :4318): the device
// from the client certificate, its rate budget, the identity stamp, then the exporters. Throws domain errors; each
// protocol turns them into its own status (errors.ts for gRPC, otlp-http.ts for HTTP).
import { create } from "@bufbuild/protobuf";
import {
  ExportMetricsServiceResponseSchema,
  type ExportMetricsServiceRequest,
  type ExportMetricsServiceResponse,
} from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import {
  ExportTraceServiceResponseSchema,
  type ExportTraceServiceRequest,
  type ExportTraceServiceResponse,
} from "../../gen/third_party/opentelemetry/proto/collector/trace/v1/trace_service_pb.js";
import { DomainError, rateLimited } from "../platform/errors.js";
import type { Peer } from "../platform/peer.js";
import type { TelemetryGate, TelemetryDevice } from "./device-identity.js";
import type { Forwarder } from "./forward.js";
import type { GatewayMetrics } from "./gateway-metrics.js";
import type { PointRate } from "./point-rate.js";
import type { SeriesStore } from "./series-store.js";
import { stampMetrics, stampTraces } from "./stamp.js";

export interface ReceiverDeps {
  gate: TelemetryGate;
  store: SeriesStore;
  /** Points (spans) per device per minute. */
  rate: PointRate;
  maxSeriesPerDevice: number;
  metrics: GatewayMetrics;
  forwarder?: Forwarder;
}

export interface Receiver {
  /** The device a request's TLS peer speaks for, or the refusal (counted). OTLP/HTTP asks before reading the body. */
  device(peer: Peer): Promise<TelemetryDevice>;
  exportMetrics(req: ExportMetricsServiceRequest, device: TelemetryDevice): Promise<ExportMetricsServiceResponse>;
  exportTraces(req: ExportTraceServiceRequest, device: TelemetryDevice): Promise<ExportTraceServiceResponse>;
}

export function createReceiver(deps: ReceiverDeps): Receiver {
  const { metrics } = deps;

  /** The device, or the refusal counted by its reason. */
  async function deviceOf(peer: Peer): Promise<TelemetryDevice> {
    try {
      return await deps.gate(peer);
    } catch (e) {
      if (e instanceof DomainError) metrics.refused.inc({ reason: e.kind === "unauthenticated" ? "unauthenticated" : "forbidden" });
      throw e;
    }
  }

  /** Counts `n` points of `key` against the device's budget, or refuses the whole request. */
  function budget(device: TelemetryDevice, signal: string, n: number): void {
    const wait = deps.rate.take(`${device.orgId}/${device.deviceName}/${signal}`, n);
    if (wait === undefined) return;
    metrics.refused.inc({ reason: "rate_limited" });
    metrics.points.inc({ signal, result: "rate_limited" }, n);
    throw rateLimited(
      `device "${device.deviceName}" sent more ${signal} data points than its limit per minute; retry in ${Math.ceil(wait / 1000)} s`,
      wait,
    );
  }

  return {
    device: deviceOf,

    async exportMetrics(req, device) {
      const points = stampMetrics(req, device);
      budget(device, "metrics", points);
      const r = deps.store.ingest(req, `${device.orgId}/${device.deviceName}`);
      if (r.accepted) metrics.points.inc({ signal: "metrics", result: "accepted" }, r.accepted);
      if (r.overLimit) metrics.points.inc({ signal: "metrics", result: "series_limit" }, r.overLimit);
      if (r.unsupported) metrics.points.inc({ signal: "metrics", result: "unsupported" }, r.unsupported);
      deps.forwarder?.metrics(req);
      const problems: string[] = [];
      if (r.overLimit) {
        problems.push(
          `${r.overLimit} data points of new series were refused: device "${device.deviceName}" holds its limit of ${deps.maxSeriesPerDevice} series`,
        );
      }
      if (r.unsupported)
        problems.push(`${r.unsupported} data points were not exported to Prometheus (a metric name already used with another type)`);
      if (!problems.length) return create(ExportMetricsServiceResponseSchema);
      // OTLP's partial success: the rest of the export was accepted (unsupported points alone are a warning: rejected
      // 0, a message). The series limit guards the gateway's own memory and Prometheus; forwarding passes the export on
      // as it came (the size and rate limits apply to it).
      return create(ExportMetricsServiceResponseSchema, {
        partialSuccess: { rejectedDataPoints: BigInt(r.overLimit), errorMessage: problems.join("; ") },
      });
    },

    async exportTraces(req, device) {
      const spans = stampTraces(req, device);
      budget(device, "traces", spans);
      if (!deps.forwarder) {
        // Traces only go on to an OTLP collector. Without one, say so in OTLP's own terms (partial success, all spans
        // rejected: the exporter logs it and does not retry) rather than accept spans that go nowhere.
        if (spans) metrics.points.inc({ signal: "traces", result: "no_backend" }, spans);
        return create(ExportTraceServiceResponseSchema, {
          partialSuccess: {
            rejectedSpans: BigInt(spans),
            errorMessage: `the telemetry gateway has no OTLP collector to forward traces to (FLIGHTCTL_TELEMETRY_FORWARD_ENDPOINT is not set): ${spans} spans dropped`,
          },
        });
      }
      metrics.points.inc({ signal: "traces", result: "accepted" }, spans);
      deps.forwarder.traces(req);
      return create(ExportTraceServiceResponseSchema);
    },
  };
}
