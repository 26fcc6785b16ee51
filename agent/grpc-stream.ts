// The agent's two long-lived streams (rendered devices in, status reports out) made straight on an HTTP/2 stream of
// its connection, below Connect: binary, uncompressed gRPC (what the service's raw path serves,
// server/platform/grpc-stream.ts). Connect's client runs every message through a chain of async generators and
// per-call objects: for a device update (the rendered device, a status report and its acknowledgement) most of a
// simulated agent's CPU beside protobuf itself. Same contract as Connect's streaming calls for their users
// (agent.ts, status-stream.ts): messages in order, errors as ConnectErrors with gRPC's codes (an HTTP 404 or
// grpc-status 12 from a server without the method is Unimplemented), the signal cancels the call. On the wire a
// server-streaming call is a bidi call whose client sends one message.
import http2 from "node:http2";
import {
  create,
  fromBinary,
  toBinary,
  type DescMethodBiDiStreaming,
  type DescMethodServerStreaming,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { findTrailerError, validateResponse } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";

const HEADERS = { "content-type": "application/grpc+proto", te: "trailers", "user-agent": "flightctl-agent" };

/** Node's header object as the Web Headers Connect's gRPC checks read. */
function webHeaders(h: http2.IncomingHttpHeaders | undefined): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h ?? {})) {
    if (k.startsWith(":") || v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
  }
  return out;
}

/** A length-prefixed gRPC message (flag 0: not compressed). */
function frame(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + bytes.byteLength);
  out[0] = 0;
  out.writeUInt32BE(bytes.byteLength, 1);
  out.set(bytes, 5);
  return out;
}

/** A server-streaming call: `request`, then the server's messages. */
export function grpcServerStream<M extends DescMethodServerStreaming>(
  sessions: Pick<Http2SessionManager, "request">,
  method: M,
  request: MessageInitShape<M["input"]>,
  signal?: AbortSignal,
): AsyncGenerator<MessageShape<M["output"]>> {
  return grpcBidi(sessions, method, [request], signal);
}

/** A bidi call: the messages of `input` as they come (its end ends the request side), the server's as they come. */
export async function* grpcBidi<M extends DescMethodBiDiStreaming | DescMethodServerStreaming>(
  sessions: Pick<Http2SessionManager, "request">,
  method: M,
  input: AsyncIterable<MessageInitShape<M["input"]>> | Iterable<MessageInitShape<M["input"]>>,
  signal?: AbortSignal,
): AsyncGenerator<MessageShape<M["output"]>> {
  const canceled = () => ConnectError.from(signal?.reason ?? "operation was aborted", Code.Canceled);
  if (signal?.aborted) throw canceled();
  let stream: http2.ClientHttp2Stream;
  try {
    stream = await sessions.request("POST", `/${method.parent.typeName}/${method.name}`, HEADERS, {});
  } catch (e) {
    throw ConnectError.from(e, Code.Unavailable);
  }
  const received: MessageShape<M["output"]>[] = [];
  let failure: ConnectError | undefined;
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (e: ConnectError) => {
    failure ??= e;
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    notify();
  };
  /** Whether the call's status came (in the response headers or the trailers): then the end is clean or an error. */
  let status = false;
  const onAbort = () => fail(canceled());
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();

  stream.on("response", (headers) => {
    try {
      const { foundStatus, headerError } = validateResponse(Number(headers[":status"]), webHeaders(headers));
      if (headerError) fail(headerError);
      status ||= foundStatus;
    } catch (e) {
      fail(ConnectError.from(e, Code.Internal));
    }
  });
  let pending: Buffer = Buffer.alloc(0);
  stream.on("data", (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5 && !failure) {
      const size = pending.readUInt32BE(1);
      if (pending.length < 5 + size) break;
      if (pending[0] !== 0) return fail(new ConnectError(`unexpected message flags ${pending[0]} (compressed?)`, Code.Internal));
      try {
        received.push(fromBinary(method.output, pending.subarray(5, 5 + size)) as MessageShape<M["output"]>);
      } catch (e) {
        return fail(ConnectError.from(e, Code.Internal));
      }
      pending = pending.subarray(5 + size);
    }
    notify();
  });
  stream.on("trailers", (trailers) => {
    status = true;
    const err = findTrailerError(webHeaders(trailers));
    if (err) fail(err);
  });
  stream.on("error", (e) => fail(ConnectError.from(e, Code.Unavailable)));
  // The response's end (after its trailers) ends the call, even while the request side is still open (a server that
  // finished, e.g. draining); a stream reset without a status is an error.
  const finish = () => {
    if (!status && !failure)
      fail(new ConnectError(`stream closed without a gRPC status (HTTP/2 code ${stream.rstCode})`, Code.Unavailable));
    ended = true;
    notify();
  };
  stream.on("end", finish);
  stream.on("close", finish);

  // The request side: each message as it comes, the end of the input ends it.
  const messages: AsyncIterator<MessageInitShape<M["input"]>> | Iterator<MessageInitShape<M["input"]>> =
    Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : input[Symbol.iterator]();
  const send = async () => {
    for (;;) {
      const next = await messages.next();
      if (next.done || failure || ended) break;
      if (!stream.closed && !stream.destroyed) stream.write(frame(toBinary(method.input, create(method.input, next.value))));
    }
    if (!stream.closed && !stream.destroyed) stream.end();
  };
  send().catch((e) => fail(ConnectError.from(e, Code.Internal)));

  try {
    for (;;) {
      if (received.length) {
        yield received.shift()!;
        continue;
      }
      if (failure) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // The caller stopped reading (or the call ended): the request side stops too.
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    void messages.return?.();
  }
}
