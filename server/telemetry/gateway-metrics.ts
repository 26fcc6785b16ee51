// The gateway's own metrics (served beside the device series on the exporter endpoint): requests by result, points
// accepted and refused by reason, series held, exports. One registry per gateway, as the API's endpoints do.
import { Counter, Gauge, Registry } from "prom-client";
import { collectProcessMetrics } from "../platform/process-metrics.js";

/** Why a request or its points were refused (the `reason` label). */
export type RefusalReason =
  | "unauthenticated"
  | "forbidden"
  | "request_too_large"
  | "malformed"
  | "rate_limited"
  | "series_limit"
  | "unsupported"
  | "other";

export function createGatewayMetrics(seriesHeld: () => number) {
  const registry = new Registry();
  collectProcessMetrics(registry, "flightctl_telemetry_gateway_process_");
  const registers = [registry];
  const requests = new Counter({
    name: "flightctl_telemetry_gateway_requests_total",
    help: "OTLP export requests, by signal (metrics, traces), protocol (grpc, http) and result code.",
    labelNames: ["signal", "protocol", "code"] as const,
    registers,
  });
  const refused = new Counter({
    name: "flightctl_telemetry_gateway_refused_total",
    help: "OTLP export requests refused as a whole, by reason.",
    labelNames: ["reason"] as const,
    registers,
  });
  const points = new Counter({
    name: "flightctl_telemetry_gateway_points_total",
    help: "Data points (spans for traces) received, by signal and result (accepted, or the reason they were dropped).",
    labelNames: ["signal", "result"] as const,
    registers,
  });
  const stale = new Counter({
    name: "flightctl_telemetry_gateway_series_dropped_stale_total",
    help: "Series dropped because no point updated them within the staleness period.",
    registers,
  });
  const exports = new Counter({
    name: "flightctl_telemetry_gateway_exports_total",
    help: "Requests to the configured backends, by exporter (otlp, remote_write) and result (ok, error, dropped).",
    labelNames: ["exporter", "result"] as const,
    registers,
  });
  new Gauge({
    name: "flightctl_telemetry_gateway_series",
    help: "Series the gateway holds for the Prometheus exposition and remote write.",
    registers,
    collect() {
      this.set(seriesHeld());
    },
  });
  return { registry, requests, refused, points, stale, exports };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
