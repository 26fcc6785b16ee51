// The three RPC protocols as the fuzz suite speaks them: typed calls through connect-node's transports (Connect,
// gRPC, gRPC-Web; HTTP/2 and HTTP/1.1), and raw requests (bytes framed or misframed by hand) over node:http2 and
// node:https, with the answer read back into one shape: a Connect code (or ok), the HTTP status, a message.
import http2 from "node:http2";
import https from "node:https";
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { codeFromString } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport, Http2SessionManager } from "@connectrpc/connect-node";

export type ProtocolName = "connect-proto" | "connect-json" | "grpc" | "grpc-web-proto" | "grpc-web-json";

export interface Protocol {
  name: ProtocolName;
  wire: "connect" | "grpc" | "grpc-web";
  format: "binary" | "json";
  http: "h2" | "h1";
}

export const PROTOCOLS: readonly Protocol[] = [
  { name: "connect-proto", wire: "connect", format: "binary", http: "h2" },
  { name: "connect-json", wire: "connect", format: "json", http: "h1" },
  { name: "grpc", wire: "grpc", format: "binary", http: "h2" },
  { name: "grpc-web-proto", wire: "grpc-web", format: "binary", http: "h2" },
  { name: "grpc-web-json", wire: "grpc-web", format: "json", http: "h1" },
];

/** Protocols that can carry `method`: bidi streams need HTTP/2 and are no gRPC-Web. */
export function protocolsFor(method: DescMethod): Protocol[] {
  if (method.methodKind === "bidi_streaming" || method.methodKind === "client_streaming")
    return PROTOCOLS.filter((p) => p.http === "h2" && p.wire !== "grpc-web");
  return [...PROTOCOLS];
}

/** How a call ended, as the oracle judges it. */
export interface Outcome {
  /** "ok" (including a stream still open when we cut it), a Connect code, or a bare HTTP 4xx without an error body. */
  code: Code | "ok" | "http-4xx";
  /** HTTP status, when the raw path saw one. */
  http?: number;
  message: string;
  /** No answer within the bound, or the connection failed without one. */
  noAnswer?: "timeout" | "transport";
  ms: number;
}

/** TLS material for one endpoint (the agent endpoint adds a client certificate). */
export interface EndpointTls {
  baseUrl: string;
  ca: string;
  cert?: string;
  key?: string;
}

/** connect-node transports per protocol for one endpoint, with what keeps their connections (closed by close()). */
export function typedTransports(ep: EndpointTls): { transports: Record<ProtocolName, Transport>; close(): void } {
  const nodeOptions = { ca: ep.ca, cert: ep.cert, key: ep.key };
  // Own connections, so the run ends without the server waiting for idle clients to go.
  // Node's http2 client refuses its own new streams (ENHANCE_YOUR_CALM) once 10 MB of outgoing bodies are buffered
  // in a session: the oversized cases would trip the client, not the server.
  const h2 = new Http2SessionManager(ep.baseUrl, {}, { ...nodeOptions, maxSessionMemory: 1024 });
  const agent = new https.Agent({ keepAlive: true, ...nodeOptions });
  const h1 = { ...nodeOptions, agent };
  return {
    transports: {
      "connect-proto": createConnectTransport({ baseUrl: ep.baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager: h2 }),
      "connect-json": createConnectTransport({ baseUrl: ep.baseUrl, httpVersion: "1.1", useBinaryFormat: false, nodeOptions: h1 }),
      grpc: createGrpcTransport({ baseUrl: ep.baseUrl, sessionManager: h2 }),
      "grpc-web-proto": createGrpcWebTransport({ baseUrl: ep.baseUrl, httpVersion: "2", useBinaryFormat: true, sessionManager: h2 }),
      "grpc-web-json": createGrpcWebTransport({ baseUrl: ep.baseUrl, httpVersion: "1.1", useBinaryFormat: false, nodeOptions: h1 }),
    },
    close() {
      h2.abort();
      agent.destroy();
    },
  };
}

/** The content type of a well-formed request of `method` in `p`. */
export function contentType(p: Protocol, method: DescMethod): string {
  const sub = p.format === "binary" ? "proto" : "json";
  if (p.wire === "connect") return method.methodKind === "unary" ? `application/${sub}` : `application/connect+${sub}`;
  if (p.wire === "grpc") return p.format === "binary" ? "application/grpc" : "application/grpc+json";
  return `application/grpc-web+${sub}`;
}

/**
 * The protocol a server reads a request of content type `ct` as: a gRPC or gRPC-Web content type (even with a codec
 * it does not know, "application/grpc+nope") is answered in that protocol's framing whatever the case meant to send,
 * so the answer is judged in it; any other content type keeps `p`.
 */
export function answeredAs(p: Protocol, ct: string): Protocol {
  const type = ct.split(";")[0].trim().toLowerCase();
  if (type.startsWith("application/grpc-web")) return p.wire === "grpc-web" ? p : { ...p, wire: "grpc-web" };
  if (type === "application/grpc" || type.startsWith("application/grpc+")) return p.wire === "grpc" ? p : { ...p, wire: "grpc" };
  return p;
}

/** Whether `p` wraps request messages in 5-byte envelopes for `method` (all but Connect unary). */
export const enveloped = (p: Protocol, method: DescMethod) => !(p.wire === "connect" && method.methodKind === "unary");

export function envelope(payload: Uint8Array, flags = 0, declaredLength = payload.length): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, declaredLength >>> 0);
  out.set(payload, 5);
  return out;
}

/** A raw HTTP exchange: what came back, or that nothing did. */
interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  trailers: Record<string, string>;
  /** The stream was still open when cut (streaming methods) or the bound passed (timeout). */
  cut?: "stream-open" | "timeout";
  error?: string;
}

const flat = (h: http2.IncomingHttpHeaders | NodeJS.Dict<string | string[]>): Record<string, string> =>
  Object.fromEntries(Object.entries(h).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(",") : String(v)]])));

/** One HTTP/2 session per endpoint, replaced when it dies (the server may close it on a protocol error). */
export class H2Pool {
  private sessions = new Map<string, http2.ClientHttp2Session>();
  session(ep: EndpointTls): http2.ClientHttp2Session {
    const s = this.sessions.get(ep.baseUrl);
    if (s && !s.closed && !s.destroyed) return s;
    // A larger session memory than Node's 10 MB: the oversized cases would otherwise trip this client, not the server.
    const fresh = http2.connect(ep.baseUrl, { ca: ep.ca, cert: ep.cert, key: ep.key, maxSessionMemory: 1024 });
    fresh.on("error", () => {}); // surfaces on the streams that fail
    this.sessions.set(ep.baseUrl, fresh);
    return fresh;
  }
  /** Drops the endpoint's session (after a request that got no answer, so later cases start clean). */
  reset(ep: EndpointTls) {
    this.sessions.get(ep.baseUrl)?.destroy();
    this.sessions.delete(ep.baseUrl);
  }
  close() {
    for (const s of this.sessions.values()) s.destroy();
    this.sessions.clear();
  }
}

/** Sends `body` with `headers` to `path` over HTTP/2; a streaming call is cut `streamCutMs` after the answer starts. */
function rawH2(
  pool: H2Pool,
  ep: EndpointTls,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
  timeoutMs: number,
  streamCutMs?: number,
) {
  return new Promise<RawResponse>((resolve) => {
    const res: RawResponse = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: {} };
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (extra: Partial<RawResponse> = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(cutTimer);
      Object.assign(res, extra, { body: Buffer.concat(chunks) });
      if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      resolve(res);
    };
    let req: http2.ClientHttp2Stream;
    try {
      req = pool.session(ep).request({ ":method": "POST", ":path": path, ...headers });
    } catch (e) {
      resolve({ ...res, error: String(e) });
      return;
    }
    const timer = setTimeout(() => {
      finish({ cut: "timeout" });
      pool.reset(ep);
    }, timeoutMs);
    let cutTimer: NodeJS.Timeout | undefined;
    req.on("response", (h) => {
      res.status = Number(h[":status"]);
      res.headers = flat(h);
      if (streamCutMs !== undefined) cutTimer = setTimeout(() => finish({ cut: "stream-open" }), streamCutMs);
    });
    req.on("trailers", (t) => (res.trailers = flat(t)));
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => finish());
    // No answer at all: the session may be one the server has given up on; later cases get a fresh one.
    const failed = (error: string) => {
      finish({ error });
      if (!res.status) pool.reset(ep);
    };
    req.on("close", () => (res.status ? finish() : failed(`stream closed (rst code ${req.rstCode})`)));
    req.on("error", (e) => failed(e.message));
    req.end(body);
  });
}

/** The same over HTTP/1.1 (keep-alive agent per endpoint). */
function rawH1(
  agents: Map<string, https.Agent>,
  ep: EndpointTls,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
  timeoutMs: number,
  streamCutMs?: number,
) {
  let agent = agents.get(ep.baseUrl);
  if (!agent) {
    agent = new https.Agent({ keepAlive: true, ca: ep.ca, cert: ep.cert, key: ep.key });
    agents.set(ep.baseUrl, agent);
  }
  return new Promise<RawResponse>((resolve) => {
    const res: RawResponse = { status: 0, headers: {}, body: Buffer.alloc(0), trailers: {} };
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (extra: Partial<RawResponse> = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(cutTimer);
      Object.assign(res, extra, { body: Buffer.concat(chunks) });
      req.destroy();
      resolve(res);
    };
    const req = https.request(
      `${ep.baseUrl}${path}`,
      { method: "POST", agent, headers: { ...headers, "content-length": String(body.length) } },
      (r) => {
        res.status = r.statusCode ?? 0;
        res.headers = flat(r.headers);
        if (streamCutMs !== undefined) cutTimer = setTimeout(() => finish({ cut: "stream-open" }), streamCutMs);
        r.on("data", (c: Buffer) => chunks.push(c));
        r.on("end", () => {
          res.trailers = flat(r.trailers);
          finish();
        });
        r.on("error", (e) => finish({ error: e.message }));
      },
    );
    const timer = setTimeout(() => finish({ cut: "timeout" }), timeoutMs);
    let cutTimer: NodeJS.Timeout | undefined;
    req.on("error", (e) => finish(res.status ? {} : { error: e.message }));
    req.end(body);
  });
}

export interface RawSender {
  send(
    ep: EndpointTls,
    p: Protocol,
    path: string,
    headers: Record<string, string>,
    body: Uint8Array,
    timeoutMs: number,
    streamCutMs?: number,
  ): Promise<RawResponse>;
  close(): void;
}

export function createRawSender(): RawSender {
  const pool = new H2Pool();
  const agents = new Map<string, https.Agent>();
  return {
    send: (ep, p, path, headers, body, timeoutMs, streamCutMs) =>
      p.http === "h2"
        ? rawH2(pool, ep, path, headers, body, timeoutMs, streamCutMs)
        : rawH1(agents, ep, path, headers, body, timeoutMs, streamCutMs),
    close() {
      pool.close();
      for (const a of agents.values()) a.destroy();
      agents.clear();
    },
  };
}

/** Splits a body into 5-byte-prefixed envelopes (stops at a partial one). */
function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  let i = 0;
  while (i + 5 <= body.length) {
    const len = body.readUInt32BE(i + 1);
    if (i + 5 + len > body.length) break;
    out.push({ flags: body[i], data: body.subarray(i + 5, i + 5 + len) });
    i += 5 + len;
  }
  return out;
}

const short = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…(${s.length} chars)` : s);

function connectError(json: unknown): { code: Code; message: string } | undefined {
  if (!json || typeof json !== "object") return undefined;
  const j = json as { code?: unknown; message?: unknown };
  const code = typeof j.code === "string" ? codeFromString(j.code) : undefined;
  return code === undefined ? undefined : { code, message: typeof j.message === "string" ? j.message : "" };
}

function parseJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString("utf8"));
  } catch {
    return undefined;
  }
}

/** What a raw exchange amounts to in `p`'s terms. */
export function judgeRaw(p: Protocol, unary: boolean, r: RawResponse, ms: number): Outcome {
  if (r.cut === "timeout")
    return { code: Code.DeadlineExceeded, noAnswer: "timeout", http: r.status || undefined, message: `no answer within ${ms} ms`, ms };
  if (!r.status) return { code: Code.Unknown, noAnswer: "transport", message: `no response: ${r.error ?? "connection closed"}`, ms };
  const http = r.status;
  if (p.wire === "connect") {
    if (http !== 200) {
      const e = connectError(parseJson(r.body));
      if (e) return { code: e.code, http, message: short(e.message), ms };
      return { code: http >= 500 ? Code.Unknown : "http-4xx", http, message: short(`HTTP ${http}: ${r.body.toString("utf8")}`), ms };
    }
    if (unary) return { code: "ok", http, message: "", ms };
    const end = envelopes(r.body).find((e) => e.flags & 0x02);
    if (!end)
      return r.cut === "stream-open"
        ? { code: "ok", http, message: "stream open", ms }
        : { code: Code.Unknown, http, message: "stream ended without end-stream message", ms };
    const e = connectError((parseJson(end.data) as { error?: unknown } | undefined)?.error);
    return e ? { code: e.code, http, message: short(e.message), ms } : { code: "ok", http, message: "", ms };
  }
  // gRPC and gRPC-Web: status from trailers, headers (trailers-only), or gRPC-Web's trailer envelope.
  let fields: Record<string, string> = { ...r.headers, ...r.trailers };
  if (p.wire === "grpc-web" && fields["grpc-status"] === undefined) {
    const t = envelopes(r.body).find((e) => e.flags & 0x80);
    if (t) {
      fields = {};
      for (const line of t.data.toString("utf8").split("\r\n")) {
        const at = line.indexOf(":");
        if (at > 0) fields[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
    }
  }
  const status = fields["grpc-status"];
  const message = short(decodeURIComponentSafe(fields["grpc-message"] ?? ""));
  if (status === undefined) {
    if (r.cut === "stream-open") return { code: "ok", http, message: "stream open", ms };
    if (http >= 400 && http < 500) return { code: "http-4xx", http, message: short(`HTTP ${http}: ${r.body.toString("utf8")}`), ms };
    return { code: Code.Unknown, http, message: short(`no grpc-status (HTTP ${http}${r.error ? `, ${r.error}` : ""})`), ms };
  }
  const n = Number(status);
  return { code: n === 0 ? "ok" : (n as Code), http, message, ms };
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A typed call's error as an outcome (connect-node already read the protocol). */
export function judgeError(e: unknown, ms: number, timedOut: boolean): Outcome {
  if (timedOut) return { code: Code.DeadlineExceeded, noAnswer: "timeout", message: `no answer within ${ms} ms`, ms };
  const ce = ConnectError.from(e);
  return { code: ce.code, message: short(ce.rawMessage), ms };
}
