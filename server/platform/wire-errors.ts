// Connect refuses some requests before any interceptor runs: a unary request whose body does not decode (reported as
// Internal, "parse binary: ..."), or a content type no protocol serves (a bare HTTP 415, which clients read as
// Unknown). Those answers are already on their way to the wire when the error mapper could see them, so each method's
// handler is wrapped here and such an answer is rewritten, in the protocol it was written in, through the one mapping
// of errors.ts (`undecodable`). Server streams decode inside the interceptors and are mapped there.
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { undecodable } from "./errors.js";
import { quote } from "../../lib/quote.js";

/** Replaces every handler of a router with one whose pre-interceptor refusals are InvalidArgument, never Internal. */
export function mapWireErrors(handlers: UniversalHandler[]): void {
  for (let i = 0; i < handlers.length; i++) handlers[i] = withWireErrors(handlers[i]);
}

function withWireErrors(h: UniversalHandler): UniversalHandler {
  const unary = h.method.methodKind === "unary";
  const handle = async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
    const res = await h(req);
    const type = req.header.get("content-type") ?? "";
    if (res.status === 415) return unsupportedType(type, unary);
    if (!unary) return res; // server streams: decoding errors pass the error interceptor
    if (type.startsWith("application/grpc-web")) return grpcWeb(res);
    if (type.startsWith("application/grpc")) return grpc(res);
    return connectUnary(res);
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

/**
 * A content type no protocol serves. Connect and plain HTTP keep the 415 the protocols specify, with a Connect error
 * body so Connect clients read InvalidArgument rather than Unknown; a gRPC content type with an unknown codec
 * (application/grpc+xml, grpc-web-text) answers a gRPC status, as gRPC asks of a server for its own content types.
 */
function unsupportedType(type: string, unary: boolean): UniversalServerResponse {
  const connect = unary ? "application/proto or application/json" : "application/connect+proto or application/connect+json";
  const err = new ConnectError(
    `unsupported content type ${quote(type)}: use ${connect} (Connect), application/grpc[+proto|+json] or application/grpc-web[+proto|+json]`,
    Code.InvalidArgument,
  );
  if (type.startsWith("application/grpc")) {
    const header = new Headers({
      "content-type": type.startsWith("application/grpc-web") ? "application/grpc-web+proto" : "application/grpc+proto",
    });
    return { status: 200, header: setTrailerStatus(header, err) };
  }
  return connectErrorResponse(415, err);
}

function connectErrorResponse(status: number, err: ConnectError): UniversalServerResponse {
  const body = errorToJsonBytes(err, {});
  const header = new Headers({ "content-type": "application/json", "content-length": String(body.byteLength) });
  return { status, header, body: oneChunk(body) };
}

async function* oneChunk(bytes: Uint8Array) {
  yield bytes;
}

/** Connect unary: an error is the whole (uncompressed, JSON) body of a non-200 answer. */
async function connectUnary(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (res.status === 200 || !res.body || res.header?.has("content-encoding")) return res;
  const chunks: Uint8Array[] = [];
  for await (const c of res.body as AsyncIterable<Uint8Array>) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  const mapped = undecodable(errorFromJsonBytes(bytes, undefined, new ConnectError("internal error", Code.Internal)));
  if (!mapped) return { ...res, body: oneChunk(bytes) };
  const body = errorToJsonBytes(mapped, {});
  const header = new Headers(res.header);
  header.set("content-length", String(body.byteLength));
  return { ...res, status: codeToHttpStatus(mapped.code), header, body: oneChunk(body) };
}

/** gRPC unary: a request that fails to decode has set its status in the trailer before the response starts. */
function grpc(res: UniversalServerResponse): UniversalServerResponse {
  const found = res.trailer && findTrailerError(res.trailer);
  const mapped = found && undecodable(found);
  if (mapped && res.trailer) setTrailerStatus(res.trailer, mapped);
  return res;
}

/** gRPC-Web unary: the status travels in a trailer frame of the body, the first frame when nothing else was sent. */
async function grpcWeb(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  if (!res.body || res.header?.has("grpc-encoding")) return res;
  const it = (res.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const first = await it.next();
  let head = first.done ? undefined : first.value;
  if (head && head.byteLength >= 5 && (head[0] & trailerFlag) === trailerFlag) {
    const trailer = trailerParse(head.subarray(5));
    const found = findTrailerError(trailer);
    const mapped = found && undecodable(found);
    if (mapped) {
      const data = trailerSerialize(setTrailerStatus(trailer, mapped));
      const frame = new Uint8Array(5 + data.byteLength);
      frame[0] = trailerFlag;
      new DataView(frame.buffer).setUint32(1, data.byteLength);
      frame.set(data, 5);
      head = frame;
    }
  }
  async function* rest() {
    try {
      if (head) yield head;
      for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
    } finally {
      await it.return?.();
    }
  }
  return { ...res, body: rest() };
}
