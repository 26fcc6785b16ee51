// flightctl's REST API on an endpoint: a request under /api/v1 is matched to its RPC by the google.api.http bindings
// (rest-routes.ts), turned into the RPC's request (rest-request.ts) and sent as a Connect JSON unary call through the
// endpoint's own Connect handler for that method, so auth, rate limits, input checks and the error mapping are the
// very ones Connect and gRPC callers get. The answer is flightctl's: its status codes, its Status error body, its
// API version header.
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { toConnectError } from "../errors.js";
import { quote } from "../../../lib/quote.js";
import { withEmptyLists, withTopLevelZeros } from "./rest-lists.js";
import { buildRequest } from "./rest-request.js";
import { matchRoute, type RestRoute } from "./rest-routes.js";
import { codeFromName, failure, type FlightctlStatus, httpFailure, success } from "./rest-status.js";

/** The header flightctl negotiates its API version with, and the one version this service speaks. */
export const API_VERSION_HEADER = "flightctl-api-version";
export const API_VERSION = "v1beta1";
/** Where flightctl's REST API lives on both endpoints (its OpenAPI documents' server URL). */
const PREFIX = "/api/v1/";

type Req = IncomingMessage | Http2ServerRequest;
/** What is used of an HTTP/1.1 or HTTP/2 compatibility response. */
interface Res {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
  once(event: "close", listener: () => void): unknown;
}

export interface RestOptions {
  routes: RestRoute[];
  /** The endpoint's Connect handlers (the router's, after every wrapper), looked up by procedure path. */
  handlers: UniversalHandler[];
  /** The context values Connect calls of this endpoint get (peer address and certificate). */
  contextValues: (req: Req) => ContextValues;
  maxRequestBytes: number;
  logInternal: (err: unknown) => void;
}

/** A request listener answering flightctl's REST calls; resolves false for paths outside /api/v1/. */
export function restHandler(opts: RestOptions): (req: Req, res: Res) => Promise<boolean> {
  let byPath: Map<string, UniversalHandler> | undefined;
  const handlerFor = (route: RestRoute) => {
    byPath ??= new Map(opts.handlers.map((h) => [h.requestPath, h]));
    return byPath.get(`/${route.method.parent.typeName}/${route.method.name}`);
  };
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "https://localhost");
    if (!url.pathname.startsWith(PREFIX)) return false;
    const send = (status: number, body?: JsonValue | FlightctlStatus, headers: Record<string, string> = {}) => {
      const h: Record<string, string> = { [API_VERSION_HEADER]: API_VERSION, vary: "Flightctl-API-Version", ...headers };
      if (body === undefined) {
        res.writeHead(status, h);
        res.end("");
        return true;
      }
      res.writeHead(status, { ...h, "content-type": "application/json" });
      res.end(JSON.stringify(body));
      return true;
    };
    const version = req.headers[API_VERSION_HEADER];
    if (version !== undefined && version !== API_VERSION) {
      const message = `API version ${quote(String(version))} is not supported; supported: ${API_VERSION}`;
      return send(406, httpFailure(406, "NotAcceptable", message), { "flightctl-api-versions-supported": API_VERSION });
    }
    const verb = req.method ?? "GET";
    const { match, allowed } = matchRoute(opts.routes, verb, url.pathname);
    if (!match) {
      if (allowed.length)
        return send(405, httpFailure(405, "MethodNotAllowed", `${verb} is not allowed here; allowed: ${allowed.join(", ")}`), {
          allow: allowed.join(", "),
        });
      return send(404, httpFailure(404, "NotFound", `no API operation at ${quote(url.pathname)}`));
    }
    const handler = handlerFor(match.route);
    if (!handler) return send(404, httpFailure(404, "NotFound", `no API operation at ${quote(url.pathname)}`));
    try {
      const body = match.route.body ? await readBody(req, opts.maxRequestBytes) : undefined;
      const rpcRequest = buildRequest(match, url.searchParams, body);
      const abort = new AbortController();
      res.once("close", () => abort.abort());
      const answer = await handler({
        httpVersion: req.httpVersion,
        url: `https://localhost${handler.requestPath}`,
        method: "POST",
        header: forwardedHeaders(req),
        body: (async function* () {
          yield new TextEncoder().encode(JSON.stringify(rpcRequest));
        })(),
        signal: abort.signal,
        contextValues: opts.contextValues(req),
      });
      const text = await readAll(answer.body);
      const json = text ? (JSON.parse(text) as JsonValue) : undefined;
      const extra: Record<string, string> = {};
      const retryAfter = answer.header?.get("retry-after");
      if (retryAfter) extra["retry-after"] = retryAfter;
      if (answer.status !== 200) {
        const err = json as { code?: string; message?: string } | undefined;
        const f = failure(codeFromName(err?.code), err?.message ?? "");
        return send(f.status, f.body, extra);
      }
      return respond(match.route, answer.header, json, send);
    } catch (e) {
      if (e instanceof RestBodyError && e.status) return send(e.status, httpFailure(e.status, "RequestEntityTooLarge", e.error.rawMessage));
      const err = e instanceof RestBodyError ? e.error : toConnectError(e, opts.logInternal);
      const f = failure(err.code, err.rawMessage);
      return send(f.status, f.body);
    }
  };
}

/** The success answer: 201 for a creation, 204 for nothing new (a long-poll), a Status for an empty message. */
function respond(
  route: RestRoute,
  header: Headers | undefined,
  json: JsonValue | undefined,
  send: (status: number, body?: JsonValue | FlightctlStatus) => boolean,
): boolean {
  const output = route.method.output;
  if (output.fields.length === 0) return send(200, success());
  const obj = (json ?? {}) as Record<string, JsonValue>;
  let body: JsonValue | undefined = obj;
  const field = route.responseBody;
  if (field) {
    body = obj[field.jsonName];
    if (body === undefined && field.fieldKind === "list") body = [];
  }
  // Nothing to return: the long-poll's unset device, or a message of optional parts none of which is set (lastseen).
  const empty = typeof body === "object" && body !== null && !Array.isArray(body) && Object.keys(body).length === 0;
  if (body === undefined || (empty && (field || output.fields.every((f) => f.fieldKind === "message" || f.proto.proto3Optional)))) {
    return send(204);
  }
  if (!field) withEmptyLists(output, withTopLevelZeros(output, body));
  else if (field.fieldKind === "message") withEmptyLists(field.message, body);
  const created = route.method.name.startsWith("Create") || header?.get("flightctl-created") === "true";
  return send(created ? 201 : 200, body);
}

/** The caller's headers a Connect call should see (auth, forwarding), without the HTTP/2 pseudo-headers and body ones. */
export function forwardedHeaders(req: Req): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined || SKIPPED.has(k) || k.startsWith("connect-") || k.startsWith("grpc-")) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  h.set("content-type", "application/json");
  return h;
}
const SKIPPED = new Set([
  "content-type",
  "content-length",
  "content-encoding",
  "accept-encoding",
  "transfer-encoding",
  "te",
  "connection",
  "host",
  "keep-alive",
  "upgrade",
]);

/** A request body flightctl's clients send, as JSON: a JSON object, a JSON Patch array, or a form (token exchange). */
async function readBody(req: Req, max: number): Promise<JsonValue | undefined> {
  const type = String(req.headers["content-type"] ?? "application/json")
    .split(";")[0]
    .trim()
    .toLowerCase();
  const text = await readAll(req as AsyncIterable<Uint8Array>, max);
  if (text === "") return undefined;
  if (type === "application/x-www-form-urlencoded") return Object.fromEntries(new URLSearchParams(text));
  if (type !== "application/json" && type !== "application/json-patch+json") {
    throw new RestBodyError(
      new ConnectError(
        `unsupported content type ${quote(type)}: use application/json or application/json-patch+json`,
        Code.InvalidArgument,
      ),
    );
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new RestBodyError(new ConnectError(`body is not valid JSON: ${(e as Error).message}`, Code.InvalidArgument));
  }
}

/** A refusal of the body before any RPC ran, already a Connect error. */
class RestBodyError extends Error {
  constructor(
    readonly error: ConnectError,
    /** The HTTP status when it is not the code's (413 for a body over the size limit). */
    readonly status?: number,
  ) {
    super(error.message);
  }
}

async function readAll(body: AsyncIterable<Uint8Array> | undefined, max = Number.POSITIVE_INFINITY): Promise<string> {
  if (!body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > max) throw new RestBodyError(new ConnectError(`request body over ${max} bytes`, Code.InvalidArgument), 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
