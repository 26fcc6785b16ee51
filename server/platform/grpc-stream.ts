// Long-lived gRPC server streams served straight on the HTTP/2 stream, below Connect. Connect keeps per-call objects
// (request/response adapters, abort controllers, a chain of async generators) alive for as long as a call lasts —
// tens of KB per stream, which at 10,000 devices holding their rendered-device stream is most of the server's memory.
// Here a stream costs its Http2Stream and the caller's own state. Only binary, uncompressed gRPC (what the agent
// speaks) takes this path; every other protocol or encoding goes to Connect, which serves the same method.
// Bidi streams (the agent's status reports) are served the same way: one HTTP/2 stream carries many messages, each
// answered in order, instead of one call (headers, trailers, Connect's per-call objects) per message.
import { constants, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import {
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethodBiDiStreaming,
  type DescMethodServerStreaming,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { toConnectError } from "./errors.js";
import type { Peer } from "./peer.js";
import type { EndpointLimits } from "./endpoint-limits.js";
import { checkInput } from "./input-interceptor.js";

/** Where an open stream sends its messages, and how it ends (with an error, or cleanly). */
export interface StreamSink<O> {
  /**
   * A message, not to be changed once sent: the same message sent to many streams in a row (a heartbeat tick) is
   * encoded once.
   */
  send(message: O): void;
  end(err?: unknown): void;
}

/** A server-streaming method served on the raw path: `open` starts it and returns how to stop it when the client leaves. */
export interface RawServerStream {
  method: DescMethodServerStreaming;
  // biome-ignore lint/suspicious/noExplicitAny: one table of methods with different message types
  open(request: any, sink: StreamSink<any>, peer: Peer): Promise<() => void>;
}

/** The handler of one bidi call's messages: each request answered by one response, strictly one at a time. */
export interface RawBidiCall {
  // biome-ignore lint/suspicious/noExplicitAny: one table of methods with different message types
  message(request: any): Promise<any>;
  /** The call ended (either side, or an error): release what `open` took. */
  close(): void;
}

/**
 * A bidi-streaming method served on the raw path: `open` admits the caller (before any message is read) and returns
 * the handler of its messages; `finish` ends the call cleanly once the message in hand is answered (a draining server).
 */
export interface RawBidiStream {
  method: DescMethodBiDiStreaming;
  open(peer: Peer, finish: () => void): Promise<RawBidiCall>;
  /**
   * How a message's payload becomes the request `message` is given (default: decodeRequest, the input message). One
   * of its own must hold the request to the same limits, e.g. by falling back to decodeRequest.
   */
  decode?(flags: number, payload: Buffer, limits: EndpointLimits): unknown;
}

/** Any method served on the raw path. */
export type RawStream = RawServerStream | RawBidiStream;

export const procedurePath = (m: DescMethodServerStreaming | DescMethodBiDiStreaming) => `/${m.parent.typeName}/${m.name}`;

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

// The last message framed and its bytes: a heartbeat tick sends one message to a whole bucket of streams, one after
// the other, and each stream writes the same bytes (HTTP/2 only reads them).
let lastMessage: unknown;
let lastFrame: Buffer | undefined;
function frameOnce<D extends DescMessage>(schema: D, message: MessageShape<D>): Buffer {
  if (message !== lastMessage || !lastFrame) {
    lastFrame = frame(schema, message);
    lastMessage = message;
  }
  return lastFrame;
}

/** A message's payload decoded, then held to the same limits as every RPC's (input-interceptor.ts). */
export function decodeRequest<D extends DescMessage>(
  schema: D,
  flags: number,
  payload: Uint8Array,
  limits: EndpointLimits,
): MessageShape<D> {
  if (flags & 1) throw new ConnectError("compressed message without grpc-encoding", Code.InvalidArgument);
  let message: MessageShape<D>;
  try {
    message = fromBinary(schema, payload);
  } catch (e) {
    throw new ConnectError(`cannot decode the request: ${(e as Error).message}`, Code.InvalidArgument);
  }
  checkInput(schema, message, limits.input);
  return message;
}

/** The one request message of a call. */
function unframe<D extends DescMessage>(schema: D, body: Buffer, limits: EndpointLimits): MessageShape<D> {
  if (body.length < 5 || body.readUInt32BE(1) !== body.length - 5)
    throw new ConnectError("request must be exactly one gRPC message", Code.InvalidArgument);
  return decodeRequest(schema, body[0], body.subarray(5), limits);
}

/**
 * What serving a raw call needs besides the call: one object per method, shared by all its calls (10,000 streams at
 * scale: a per-call object with its own closures cost ≈ 0.3 KB each).
 */
export interface RawOptions {
  limits: EndpointLimits;
  logInternal(err: unknown): void;
  /** The call's outcome, once; `started` is what the call was served with (process.hrtime.bigint()). */
  done(code: Code | 0, started: bigint): void;
}

// Node keeps the headers a stream responded with for its `sentHeaders` getter, as a null-prototype object (a
// dictionary, ≈ 0.3 KB with the date string) for the stream's life; nothing here reads it. Its key is Node's symbol.
let sentHeadersKey: symbol | undefined | null;
function forgetSentHeaders(stream: ServerHttp2Stream) {
  if (sentHeadersKey === undefined)
    sentHeadersKey = Object.getOwnPropertySymbols(stream).find((k) => k.description === "sent-headers") ?? null;
  if (sentHeadersKey) (stream as unknown as Record<symbol, unknown>)[sentHeadersKey] = undefined;
}

/** The trailers of a call's end: status, message, details (google.rpc.Status) and metadata, as Connect would send them. */
function trailersOf(err: unknown, logInternal: (err: unknown) => void): Record<string, string> {
  if (err === undefined) return { "grpc-status": "0" };
  const out: Record<string, string> = {};
  setTrailerStatus(new Headers(), toConnectError(err, logInternal)).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/** A listener that ignores its event: one function for every stream. */
const ignore = () => {};

/**
 * The response side of a raw call: headers once, length-prefixed messages, then trailers (or a trailers-only
 * response). `done` is told the outcome once; `closed` runs once the call is over, whichever side ended it.
 * The sink lives as long as the stream (10,000 per API at scale): a class, whose methods are shared by every instance
 * (an object literal's methods are closures of each call, ≈ 60 B each with their context). Neither getters (V8
 * keeps such an object as a dictionary, ≈ 440 B more) nor named closures (under tsx each is given its name with
 * Object.defineProperty, esbuild keepNames: ≈ 260 B more).
 */
class Responder implements StreamSink<unknown> {
  finished = false;
  private responded = false;
  private readonly stream: ServerHttp2Stream;
  private readonly output: DescMessage;
  private readonly opts: RawOptions;
  private readonly started: bigint;
  private readonly closed: () => void;

  constructor(stream: ServerHttp2Stream, output: DescMessage, opts: RawOptions, started: bigint, closed: () => void) {
    this.stream = stream;
    this.output = output;
    this.opts = opts;
    this.started = started;
    this.closed = closed;
    stream.on("close", () => {
      if (!this.finished) {
        this.finished = true;
        opts.done(Code.Canceled, started);
        closed();
      }
    });
    stream.on("error", ignore); // a reset by the client surfaces as 'close'
  }

  respond() {
    if (this.responded || this.stream.destroyed) return;
    this.responded = true;
    this.stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    forgetSentHeaders(this.stream);
  }

  send(message: unknown) {
    // A stream the client reset is closed before it is destroyed; respond() would throw on it.
    if (this.finished || this.stream.destroyed || this.stream.closed) return;
    this.respond();
    this.stream.write(frameOnce(this.output, message as MessageShape<DescMessage>));
  }

  end(err?: unknown) {
    if (this.finished) return;
    this.finished = true;
    this.opts.done(err === undefined ? 0 : toConnectError(err, ignore).code, this.started);
    this.closed();
    const stream = this.stream;
    if (stream.destroyed) return;
    const t = trailersOf(err, this.opts.logInternal);
    if (!this.responded) {
      // Trailers-only response: the status travels in the headers.
      this.responded = true;
      stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...t }, { endStream: true });
      return;
    }
    stream.once("wantTrailers", () => stream.sendTrailers(t));
    stream.end();
  }
}

/** Serves one call of `rs` on `stream`; `done` reports its outcome (for metrics) once it ends. */
export function serveRawServerStream(stream: ServerHttp2Stream, rs: RawServerStream, peer: Peer, opts: RawOptions, started: bigint) {
  let stop: (() => void) | undefined;
  const sink = new Responder(stream, rs.method.output, opts, started, () => stop?.());

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
    if (sink.finished) return;
    (async () => {
      const body = Buffer.concat(chunks);
      chunks = [];
      const request = unframe(rs.method.input, body, opts.limits);
      const close = await rs.open(request, sink, peer);
      if (sink.finished || stream.destroyed) close();
      else {
        stop = close;
        sink.respond();
      }
    })().catch((e) => sink.end(e));
  });
}

/** Messages read ahead of the one in hand before the stream stops reading (HTTP/2 flow control then holds the client). */
const MAX_QUEUED = 8;

/** How long after an error answer a bidi stream whose client is still sending is reset (trailers leave first). */
const RESET_DELAY_MS = 25;

/**
 * Serves one call of a bidi `rs` on `stream`: length-prefixed messages are cut from the data as it comes, each held to
 * the request-size and input limits, handled strictly in order, one at a time, and answered by one message. An error
 * ends the call with its code; the client ending its side ends the call (OK) once every message is answered.
 */
export function serveRawBidiStream(stream: ServerHttp2Stream, rs: RawBidiStream, peer: Peer, opts: RawOptions, started: bigint) {
  let call: RawBidiCall | undefined;
  const out = new Responder(stream, rs.method.output, opts, started, () => call?.close());
  // Messages not handled yet; an error (a message over the size limit) takes its place in line, read no further.
  const queue: (Buffer | ConnectError)[] = [];
  let parts: Buffer[] = [];
  let held = 0;
  let refused = false;
  let inputEnded = false;
  let finishing = false;
  let busy = false;

  // Methods, not named closures (see `Responder`): they live as long as the stream.
  const c = {
    fail(err: unknown) {
      if (out.finished) return;
      out.end(err);
      // The client may still be sending: stop it once the answer has left (see http-server.ts, early responses).
      if (!inputEnded) setTimeout(() => stream.destroyed || stream.close(constants.NGHTTP2_NO_ERROR), RESET_DELAY_MS).unref();
    },
    async pump() {
      if (busy || out.finished || !call) return;
      busy = true;
      try {
        while (!out.finished && !finishing) {
          const body = queue.shift();
          if (!body) break;
          if (stream.isPaused() && queue.length < MAX_QUEUED) stream.resume();
          if (body instanceof ConnectError) throw body;
          const request = rs.decode
            ? rs.decode(body[0], body.subarray(5), opts.limits)
            : decodeRequest(rs.method.input, body[0], body.subarray(5), opts.limits);
          out.send(await call.message(request));
        }
        if (inputEnded && !queue.length && held) throw new ConnectError("the stream ended inside a message", Code.InvalidArgument);
        if (finishing || (inputEnded && !queue.length)) out.end();
      } catch (e) {
        c.fail(e);
      } finally {
        busy = false;
      }
    },
  };
  rs.open(peer, () => {
    finishing = true;
    void c.pump();
  }).then((opened) => {
    call = opened;
    if (out.finished) opened.close();
    else {
      out.respond();
      void c.pump();
    }
  }, c.fail);

  stream.on("data", (chunk: Buffer) => {
    if (out.finished || refused) return;
    // The chunks of a message not complete yet are joined once, when it is (not once per chunk).
    parts.push(chunk);
    held += chunk.length;
    while (held >= 5) {
      if (parts[0].length < 5) parts = [Buffer.concat(parts, held)];
      const length = parts[0].readUInt32BE(1);
      if (length > opts.limits.maxRequestBytes) {
        refused = true;
        queue.push(new ConnectError(`request larger than ${opts.limits.maxRequestBytes} bytes`, Code.ResourceExhausted));
        parts = [];
        held = 0;
        break;
      }
      if (held < 5 + length) break;
      const data = parts.length === 1 ? parts[0] : Buffer.concat(parts, held);
      queue.push(data.subarray(0, 5 + length));
      // What follows is copied: it may wait long for the rest of its message, and a chunk can be a view of a much
      // larger read buffer.
      held -= 5 + length;
      parts = held ? [Buffer.from(data.subarray(5 + length))] : [];
    }
    if (queue.length >= MAX_QUEUED) stream.pause();
    void c.pump();
  });
  stream.on("end", () => {
    inputEnded = true;
    void c.pump();
  });
}

/** Serves one call of any raw method. */
export function serveRaw(stream: ServerHttp2Stream, rs: RawStream, peer: Peer, opts: RawOptions, started = process.hrtime.bigint()) {
  if (rs.method.methodKind === "bidi_streaming") serveRawBidiStream(stream, rs as RawBidiStream, peer, opts, started);
  else serveRawServerStream(stream, rs as RawServerStream, peer, opts, started);
}
