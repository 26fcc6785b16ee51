// OTLP/HTTP (https://opentelemetry.io/docs/specs/otlp/#otlphttp): POST /v1/metrics and /v1/traces with a protobuf
// (application/x-protobuf) or JSON (application/json) export request, optionally gzip-compressed. The answer is the
// export response in the request's encoding; an error is a google.rpc.Status in it, with the HTTP status the spec
// names: 400 bad data, 401/403 credentials, 413 too large, 429 (Retry-After) over the rate, 503 unavailable.
import { gunzip } from "node:zlib";
import { promisify } from "node:util";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { TLSSocket } from "node:tls";
import { create, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import {
  ExportMetricsServiceRequestSchema,
  ExportMetricsServiceResponseSchema,
} from "../../gen/third_party/opentelemetry/proto/collector/metrics/v1/metrics_service_pb.js";
import {
  ExportTraceServiceRequestSchema,
  ExportTraceServiceResponseSchema,
} from "../../gen/third_party/opentelemetry/proto/collector/trace/v1/trace_service_pb.js";
import { StatusSchema } from "../../gen/third_party/google/rpc/status_pb.js";
import { toConnectError } from "../platform/errors.js";
import { checkInput } from "../platform/input-interceptor.js";
import type { InputLimits } from "../platform/validation/input-limits.js";
import { peerOfSocket } from "../platform/peer.js";
import type { WebHandler } from "../platform/web-static.js";
import type { GatewayMetrics, RefusalReason } from "./gateway-metrics.js";
import type { Receiver } from "./receiver.js";

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

const gunzipAsync = promisify(gunzip);

/** A refusal with its HTTP status (the protocol's own, where the Connect mapping has none: 413, 405, 415). */
class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: Code,
    message: string,
    readonly reason: RefusalReason,
  ) {
    super(message);
  }
}

/** The request body, refused with 413 once it passes `max` bytes (before or after gzip decompression). */
async function readBody(req: Req, max: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"]);
  if (declared > max)
    throw new HttpRefusal(413, Code.ResourceExhausted, `the request body is ${declared} bytes, the limit is ${max}`, "request_too_large");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max)
      throw new HttpRefusal(413, Code.ResourceExhausted, `the request body is larger than the limit of ${max} bytes`, "request_too_large");
    chunks.push(c);
  }
  const body = Buffer.concat(chunks);
  const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
  if (encoding === "identity") return body;
  if (encoding !== "gzip") {
    throw new HttpRefusal(415, Code.InvalidArgument, `unsupported content-encoding "${encoding}": send gzip or none`, "malformed");
  }
  try {
    return await gunzipAsync(body, { maxOutputLength: max });
  } catch (e) {
    if (e instanceof RangeError) {
      throw new HttpRefusal(
        413,
        Code.ResourceExhausted,
        `the decompressed request is larger than the limit of ${max} bytes`,
        "request_too_large",
      );
    }
    throw new HttpRefusal(400, Code.InvalidArgument, `the gzip body does not decompress: ${(e as Error).message}`, "malformed");
  }
}

/** OTLP/JSON writes trace and span ids as hex; protobuf JSON reads bytes as base64. */
function hexIdsToBase64(doc: JsonValue): void {
  const fix = (o: Record<string, JsonValue>) => {
    for (const k of ["traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"]) {
      const v = o[k];
      if (typeof v === "string" && /^[0-9a-fA-F]*$/.test(v) && v.length % 2 === 0) o[k] = Buffer.from(v, "hex").toString("base64");
    }
  };
  const list = (o: unknown, key: string): Record<string, JsonValue>[] => {
    const v = (o as Record<string, unknown> | null)?.[key];
    return Array.isArray(v) ? (v as Record<string, JsonValue>[]) : [];
  };
  for (const rs of [...list(doc, "resourceSpans"), ...list(doc, "resource_spans")]) {
    for (const ss of [...list(rs, "scopeSpans"), ...list(rs, "scope_spans")]) {
      for (const span of list(ss, "spans")) {
        fix(span);
        for (const link of list(span, "links")) fix(link);
      }
    }
  }
}

type Encoding = "proto" | "json";

function decode<D extends DescMessage>(schema: D, body: Buffer, encoding: Encoding, traces: boolean): MessageShape<D> {
  try {
    if (encoding === "proto") return fromBinary(schema, body);
    const doc = JSON.parse(body.toString("utf8")) as JsonValue;
    if (traces) hexIdsToBase64(doc);
    // OTLP asks receivers to ignore fields they do not know (newer senders).
    return fromJson(schema, doc, { ignoreUnknownFields: true });
  } catch (e) {
    const what = encoding === "proto" ? "protobuf" : "JSON";
    throw new HttpRefusal(
      400,
      Code.InvalidArgument,
      `cannot decode the request as an OTLP ${schema.name} (${what}): ${(e as Error).message}`,
      "malformed",
    );
  }
}

function encode<D extends DescMessage>(schema: D, msg: MessageShape<D>, encoding: Encoding): Buffer {
  return encoding === "proto" ? Buffer.from(toBinary(schema, msg)) : Buffer.from(JSON.stringify(toJson(schema, msg)));
}

const SIGNALS = {
  "/v1/metrics": {
    signal: "metrics",
    request: ExportMetricsServiceRequestSchema,
    response: ExportMetricsServiceResponseSchema,
  },
  "/v1/traces": {
    signal: "traces",
    request: ExportTraceServiceRequestSchema,
    response: ExportTraceServiceResponseSchema,
  },
} as const;

const codeName = (c: Code) => Code[c].replace(/[A-Z]/g, (ch, i: number) => (i ? "_" : "") + ch.toLowerCase());

/** The OTLP/HTTP handler: answers /v1/metrics and /v1/traces, leaves every other path to the caller. */
export function createOtlpHttp(
  receiver: Receiver,
  metrics: GatewayMetrics,
  limits: { maxRequestBytes: number; input: InputLimits },
  logInternal: (err: unknown, path: string) => void,
): WebHandler {
  const maxRequestBytes = limits.maxRequestBytes;
  /** The request decoded and held to the same message limits as on gRPC (input-interceptor.ts): no NUL, no lone surrogate. */
  function decodeChecked<D extends DescMessage>(schema: D, body: Buffer, encoding: Encoding, traces: boolean): MessageShape<D> {
    const msg = decode(schema, body, encoding, traces);
    try {
      checkInput(schema, msg, limits.input);
    } catch (e) {
      metrics.refused.inc({ reason: "malformed" });
      throw e;
    }
    return msg;
  }

  async function serve(path: keyof typeof SIGNALS, req: Req, res: Res): Promise<void> {
    const s = SIGNALS[path];
    const type = String(req.headers["content-type"] ?? "")
      .split(";")[0]
      .trim()
      .toLowerCase();
    const encoding: Encoding = type === "application/json" ? "json" : "proto";
    const send = (status: number, body: Buffer, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": encoding === "json" ? "application/json" : "application/x-protobuf", ...headers });
      res.end(body);
    };
    try {
      if (req.method !== "POST") throw new HttpRefusal(405, Code.InvalidArgument, `${path} takes POST, got ${req.method}`, "malformed");
      if (type !== "application/x-protobuf" && type !== "application/json") {
        throw new HttpRefusal(
          415,
          Code.InvalidArgument,
          `unsupported content-type "${type}": send application/x-protobuf or application/json`,
          "malformed",
        );
      }
      // Who is sending, before the body is read: a stranger gets its answer without the gateway reading megabytes.
      const device = await receiver.device(peerOfSocket(req.socket as TLSSocket));
      const body = await readBody(req, maxRequestBytes);
      const out =
        s.signal === "metrics"
          ? encode(
              ExportMetricsServiceResponseSchema,
              await receiver.exportMetrics(decodeChecked(ExportMetricsServiceRequestSchema, body, encoding, false), device),
              encoding,
            )
          : encode(
              ExportTraceServiceResponseSchema,
              await receiver.exportTraces(decodeChecked(ExportTraceServiceRequestSchema, body, encoding, true), device),
              encoding,
            );
      metrics.requests.inc({ signal: s.signal, protocol: "http", code: "ok" });
      send(200, out);
    } catch (e) {
      // The device went away before its request arrived (its exporter's timeout): nobody to answer, nothing internal.
      if ((e as { code?: string }).code === "ERR_STREAM_PREMATURE_CLOSE") {
        metrics.requests.inc({ signal: s.signal, protocol: "http", code: "canceled" });
        return;
      }
      let status: number;
      let err: ConnectError;
      if (e instanceof HttpRefusal) {
        metrics.refused.inc({ reason: e.reason });
        status = e.status;
        err = new ConnectError(e.message, e.code);
      } else {
        err = toConnectError(e, (internal) => logInternal(internal, path));
        status = codeToHttpStatus(err.code);
      }
      metrics.requests.inc({ signal: s.signal, protocol: "http", code: codeName(err.code) });
      const headers: Record<string, string> = {};
      const retryAfter = err.metadata.get("retry-after");
      if (retryAfter) headers["retry-after"] = retryAfter;
      send(status, encode(StatusSchema, create(StatusSchema, { code: err.code, message: err.rawMessage }), encoding), headers);
    }
  }

  return (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (!Object.hasOwn(SIGNALS, path)) return false;
    void serve(path as keyof typeof SIGNALS, req, res as Res);
    return true;
  };
}
