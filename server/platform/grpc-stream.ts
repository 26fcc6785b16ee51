// Long-lived gRPC server streams served straight on the HTTP/2 stream, below Connect. Connect keeps per-call objects
// (request/response adapters, abort controllers, a chain of async generators) alive for as long as a call lasts —
// tens of KB per stream, which at 10,000 devices holding their rendered-device stream is most of the server's memory.
// Here a stream costs its Http2Stream and the caller's own state. Only binary, uncompressed gRPC (what the agent
// speaks) takes this path; every other protocol or encoding goes to Connect, which serves the same method.
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { fromBinary, toBinary, type DescMessage, type DescMethodServerStreaming, type MessageShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { toConnectError } from "./errors.js";
import type { Peer } from "./peer.js";
import type { EndpointLimits } from "./endpoint-limits.js";
import { checkInput } from "./input-interceptor.js";

/** Where an open stream sends its messages, and how it ends (with an error, or cleanly). */
export interface StreamSink<O> {
  send(message: O): void;
  end(err?: unknown): void;
}

/** A server-streaming method served on the raw path: `open` starts it and returns how to stop it when the client leaves. */
export interface RawServerStream {
  method: DescMethodServerStreaming;
  // biome-ignore lint/suspicious/noExplicitAny: one table of methods with different message types
  open(request: any, sink: StreamSink<any>, peer: Peer): Promise<() => void>;
}

export const procedurePath = (m: DescMethodServerStreaming) => `/${m.parent.typeName}/${m.name}`;

/** Whether this request is plain binary gRPC without compression, the only kind the raw path serves. */
export function isPlainGrpc(headers: IncomingHttpHeaders): boolean {
  const type = headers["content-type"];
  const encoding = headers["grpc-encoding"];
  return (
    headers[":method"] === "POST" &&
    (type === "application/grpc" || type === "application/grpc+proto") &&
    (!encoding || encoding === "identity")
  );
}

/** gRPC length-prefixed message: flag byte 0 (uncompressed), 4-byte big-endian length, payload. */
function frame<D extends DescMessage>(schema: D, message: MessageShape<D>): Buffer {
  const payload = toBinary(schema, message);
  const out = Buffer.allocUnsafe(5 + payload.length);
  out[0] = 0;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, 5);
  return out;
}

/** The one request message of a call: decoded, then held to the same limits as every RPC's (input-interceptor.ts). */
function unframe<D extends DescMessage>(schema: D, body: Buffer, limits: EndpointLimits): MessageShape<D> {
  if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5)
    throw new ConnectError("request must be exactly one gRPC message", Code.InvalidArgument);
  if (body[0] & 1) throw new ConnectError("compressed message without grpc-encoding", Code.InvalidArgument);
  let message: MessageShape<D>;
  try {
    message = fromBinary(schema, body.subarray(5));
  } catch (e) {
    throw new ConnectError(`cannot decode the request: ${(e as Error).message}`, Code.InvalidArgument);
  }
  checkInput(schema, message, limits.input);
  return message;
}

/** Serves one call of `rs` on `stream`; `done` reports its outcome (for metrics) once it ends. */
export function serveRawServerStream(
  stream: ServerHttp2Stream,
  rs: RawServerStream,
  peer: Peer,
  opts: { limits: EndpointLimits; logInternal(err: unknown): void; done(code: Code | 0): void },
) {
  let responded = false;
  let finished = false;
  let stop: (() => void) | undefined;
  const trailers = (err: unknown): Record<string, string> => {
    if (err === undefined) return { "grpc-status": "0" };
    const ce = toConnectError(err, opts.logInternal);
    return { "grpc-status": String(ce.code), "grpc-message": encodeURIComponent(ce.rawMessage) };
  };
  const respond = () => {
    if (responded || stream.destroyed) return;
    responded = true;
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
  };
  const sink: StreamSink<unknown> = {
    send(message) {
      // A stream the client reset is closed before it is destroyed; respond() would throw on it.
      if (finished || stream.destroyed || stream.closed) return;
      respond();
      stream.write(frame(rs.method.output, message as MessageShape<DescMessage>));
    },
    end(err) {
      if (finished) return;
      finished = true;
      opts.done(err === undefined ? 0 : toConnectError(err, () => {}).code);
      if (stream.destroyed) return;
      const t = trailers(err);
      if (!responded) {
        // Trailers-only response: the status travels in the headers.
        responded = true;
        stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...t }, { endStream: true });
        return;
      }
      stream.once("wantTrailers", () => stream.sendTrailers(t));
      stream.end();
    },
  };
  stream.on("close", () => {
    if (!finished) {
      finished = true;
      opts.done(Code.Canceled);
    }
    stop?.();
  });
  stream.on("error", () => {}); // a reset by the client surfaces as 'close'

  // The request's chunks, dropped once decoded: the listeners below live as long as the stream, and a chunk can be a
  // view of a much larger read buffer.
  let chunks: Buffer[] = [];
  let size = 0;
  stream.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > opts.limits.maxRequestBytes + 5) {
      sink.end(new ConnectError(`request larger than ${opts.limits.maxRequestBytes} bytes`, Code.ResourceExhausted));
      stream.close();
    } else chunks.push(chunk);
  });
  stream.on("end", () => {
    if (finished) return;
    (async () => {
      const body = Buffer.concat(chunks);
      chunks = [];
      const request = unframe(rs.method.input, body, opts.limits);
      const close = await rs.open(request, sink, peer);
      if (finished || stream.destroyed) close();
      else {
        stop = close;
        respond();
      }
    })().catch((e) => sink.end(e));
  });
}
