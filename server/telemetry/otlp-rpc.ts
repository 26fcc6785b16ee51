// OTLP/gRPC: the collector's MetricsService and TraceService served through Connect (so gRPC, gRPC-Web and Connect
// clients all work), with every result counted, including the refusals Connect makes before any handler runs (a
// message over the size limit, one that does not decode).
import type { ConnectRouter } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { MetricsService } from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import { TraceService } from "../../gen/third_party/opentelemetry/proto/collector/trace/v1/trace_service_pb.js";
import { undecodable } from "../platform/errors.js";
import { peerKey } from "../platform/peer.js";
import type { GatewayMetrics } from "./gateway-metrics.js";
import type { Receiver } from "./receiver.js";

export const otlpServices = [MetricsService, TraceService];

const codeName = (c: Code) => Code[c].replace(/[A-Z]/g, (ch, i: number) => (i ? "_" : "") + ch.toLowerCase());

/** Counts each call's result; a refusal before the handler (size, decoding) is counted by its reason as well. */
function counted(h: UniversalHandler, metrics: GatewayMetrics): UniversalHandler {
  const signal = h.service === MetricsService ? "metrics" : "traces";
  const handle = async (req: UniversalServerRequest) => {
    const res = await h(req);
    const type = req.header.get("content-type") ?? "";
    let code: Code | undefined;
    if (type.startsWith("application/grpc")) {
      // Unary gRPC has its status in the trailer by now (only gRPC-Web carries it in the body).
      const err = res.trailer && findTrailerError(res.trailer);
      if (err) {
        const mapped = undecodable(err) ?? err;
        code = mapped.code;
        if (mapped !== err) metrics.refused.inc({ reason: "malformed" });
        else if (err.code === Code.ResourceExhausted && /readMaxBytes/.test(err.rawMessage))
          metrics.refused.inc({ reason: "request_too_large" });
      }
    } else if (res.status !== 200) code = codeFromHttpStatus(res.status);
    metrics.requests.inc({ signal, protocol: "grpc", code: code === undefined ? "ok" : codeName(code) });
    return res;
  };
  return Object.assign(handle, {
    protocolNames: h.protocolNames,
    service: h.service,
    method: h.method,
    requestPath: h.requestPath,
    allowedMethods: h.allowedMethods,
    supportedContentType: h.supportedContentType,
  });
}

/** Registers both services on `router`. */
export function registerOtlp(router: ConnectRouter, receiver: Receiver, metrics: GatewayMetrics): void {
  const from = router.handlers.length;
  router.service(MetricsService, {
    export: async (req, ctx) => receiver.exportMetrics(req, await receiver.device(ctx.values.get(peerKey))),
  });
  router.service(TraceService, { export: async (req, ctx) => receiver.exportTraces(req, await receiver.device(ctx.values.get(peerKey))) });
  for (let i = from; i < router.handlers.length; i++) router.handlers[i] = counted(router.handlers[i], metrics);
}
