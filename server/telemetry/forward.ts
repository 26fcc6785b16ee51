// OTLP forwarding: each stamped export goes on to another collector over OTLP/gRPC (TLS with the configured CA and
// client certificate, or plaintext h2c for an http:// endpoint). The device's export is answered without waiting for
// the upstream; at most `maxInFlight` forwards run at once, further ones are dropped and counted, so a slow upstream
// never slows the devices down or grows the gateway's memory.
import { readFileSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import {
  MetricsService,
  type ExportMetricsServiceRequest,
} from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import {
  TraceService,
  type ExportTraceServiceRequest,
} from "../../gen/third_party/opentelemetry/proto/collector/trace/v1/trace_service_pb.js";
import type { GatewayMetrics } from "./gateway-metrics.js";

export interface ForwardSettings {
  /** http(s)://host:port of the upstream OTLP/gRPC receiver. */
  endpoint: string;
  /** PEM files: the CA the upstream's certificate chains to (unset: system CAs), and a client certificate and key. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** Forwards running at once (default 64). */
  maxInFlight?: number;
}

export interface Forwarder {
  metrics(req: ExportMetricsServiceRequest): void;
  traces(req: ExportTraceServiceRequest): void;
  /** Waits for the forwards in flight. */
  close(): Promise<void>;
}

export function createForwarder(settings: ForwardSettings, metrics: GatewayMetrics, log: Logger): Forwarder {
  const read = (f?: string) => (f ? readFileSync(f) : undefined);
  // Our own session manager, so close() can end the upstream connection (an idle one would otherwise stay open).
  const sessions = new Http2SessionManager(
    settings.endpoint,
    {},
    { ca: read(settings.caFile), cert: read(settings.certFile), key: read(settings.keyFile) },
  );
  const transport = createGrpcTransport({ baseUrl: settings.endpoint, sessionManager: sessions });
  const metricsClient = createClient(MetricsService, transport);
  const traceClient = createClient(TraceService, transport);
  const max = settings.maxInFlight ?? 64;
  const inFlight = new Set<Promise<void>>();

  function send(what: string, call: () => Promise<unknown>): void {
    if (inFlight.size >= max) {
      metrics.exports.inc({ exporter: "otlp", result: "dropped" });
      return;
    }
    const p = call().then(
      () => void metrics.exports.inc({ exporter: "otlp", result: "ok" }),
      (err) => {
        metrics.exports.inc({ exporter: "otlp", result: "error" });
        log.warn({ err, endpoint: settings.endpoint, signal: what }, "OTLP forward failed");
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  }

  return {
    metrics: (req) => send("metrics", () => metricsClient.export(req, { timeoutMs: 30_000 })),
    traces: (req) => send("traces", () => traceClient.export(req, { timeoutMs: 30_000 })),
    async close() {
      await Promise.allSettled([...inFlight]);
      sessions.abort();
    },
  };
}
