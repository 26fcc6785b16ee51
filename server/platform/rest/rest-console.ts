// flightctl's console WebSocket route, GET /ws/v1/devices/{name}/console with the v5.channel.k8s.io subprotocol (the
// channels of Kubernetes' remote command: a first byte 0 stdin, 1 stdout, 2 stderr, 3 status JSON, 4 resize JSON,
// 255 close), bridged onto the endpoint's own ConsoleService.OpenDeviceConsole Connect handler. So auth, RBAC
// (devices/console), limits, recording and the relay are the ones Connect callers get; the session opens (or is
// refused with its HTTP status) before the upgrade, as flightctl does.
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type ContextValues } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalClientFn, type UniversalHandler } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";
import { type WebSocket, WebSocketServer } from "ws";
import type { ConsoleClose, ConsoleFrame, ConsoleFrameSchema } from "../../../gen/flightctl/v1beta1/console_pb.js";
import { ConsoleService, type OpenDeviceConsoleRequestSchema } from "../../../gen/flightctl/v1beta1/console_service_pb.js";
import { quote } from "../../../lib/quote.js";
import { createAsyncQueue } from "../../../lib/async-queue.js";
import { toConnectError } from "../errors.js";
import { API_VERSION, API_VERSION_HEADER, forwardedHeaders } from "./rest-handler.js";
import { failure } from "./rest-status.js";

/** The one subprotocol served: flightctl's agent and CLI speak v5 (it adds the close channel). */
export const CONSOLE_SUBPROTOCOL = "v5.channel.k8s.io";
const ROUTE = /^\/ws\/v1\/devices\/([^/]+)\/console$/;
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;
const CLOSE = 255;
/** The query parameters flightctl's CLI sends: the session's metadata as JSON, and the organization. */
const QUERY = new Set(["metadata", "org_id"]);

type OpenRequest = MessageInitShape<typeof OpenDeviceConsoleRequestSchema>;

export interface ConsoleSocketOptions {
  /** The endpoint's Connect handlers; without ConsoleService (the agent endpoint) every upgrade is refused. */
  handlers: UniversalHandler[];
  contextValues: (req: IncomingMessage) => ContextValues;
  /** The largest WebSocket message taken. */
  maxMessageBytes: number;
  logInternal: (err: unknown) => void;
}

/** A listener for the server's 'upgrade' event (HTTP/1.1 requests asking for a WebSocket). */
export function consoleUpgrade(opts: ConsoleSocketOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxMessageBytes,
    handleProtocols: (offered) => (offered.has(CONSOLE_SUBPROTOCOL) ? CONSOLE_SUBPROTOCOL : false),
  });
  wss.on("headers", (headers) => headers.push(`${API_VERSION_HEADER}: ${API_VERSION}`));
  let byPath: Map<string, UniversalHandler> | undefined;
  return (req, socket, head) => {
    byPath ??= new Map(opts.handlers.map((h) => [h.requestPath, h]));
    // The endpoint's headers timer (http-server.ts) is cleared by its request listener, which upgrades skip.
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    socket.on("error", () => socket.destroy());
    serve(req, socket, head).catch((e) => {
      const err = toConnectError(e, opts.logInternal);
      const f = failure(err.code, err.rawMessage);
      refuse(socket, f.status, err.rawMessage);
    });
  };

  async function serve(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "https://localhost");
    const m = ROUTE.exec(url.pathname);
    const handler = byPath?.get(`/${ConsoleService.typeName}/${ConsoleService.method.openDeviceConsole.name}`);
    if (!m || !handler) return refuse(socket, 404, `no WebSocket route at ${quote(url.pathname)}`);
    const version = req.headers[API_VERSION_HEADER];
    if (version !== undefined && version !== API_VERSION)
      return refuse(socket, 406, `API version ${quote(String(version))} is not supported; supported: ${API_VERSION}`);
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .filter(Boolean);
    if (!offered.includes(CONSOLE_SUBPROTOCOL)) {
      const what = offered.length ? `offered ${offered.join(", ")}` : "none offered";
      return refuse(socket, 400, `the console speaks the WebSocket subprotocol ${CONSOLE_SUBPROTOCOL} only (${what})`);
    }
    for (const k of url.searchParams.keys()) if (!QUERY.has(k)) return refuse(socket, 400, `unknown query parameter ${quote(k)}`);
    const name = decodeURIComponent(m[1]);
    const metadata = sessionMetadata(url.searchParams.get("metadata"));

    // The Connect call, in process: the caller's headers (its bearer token) and the connection's context values.
    const abort = new AbortController();
    const input = createAsyncQueue<OpenRequest>();
    // The caller gone (before or after the upgrade): the session ends, as a Connect caller's cancel ends it.
    socket.once("close", () => {
      input.end();
      abort.abort();
    });
    void input.push({ message: { case: "open", value: { name, orgId: url.searchParams.get("org_id") ?? "", metadata } } });
    const header = forwardedHeaders(req);
    for (const k of ["content-type", "sec-websocket-key", "sec-websocket-version", "sec-websocket-protocol", "sec-websocket-extensions"])
      header.delete(k);
    const client = createClient(ConsoleService, transport(handler, opts.contextValues(req)));
    const responses = client.openDeviceConsole(input, { headers: header, signal: abort.signal })[Symbol.asyncIterator]();
    let first: Awaited<ReturnType<typeof responses.next>>;
    try {
      first = await responses.next();
    } catch (e) {
      input.end();
      throw e;
    }
    if (first.done || first.value.message.case !== "session") {
      input.end();
      throw new ConnectError("the console session did not open", Code.Internal);
    }
    wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, responses, input, abort));
  }
}

/** Frames both ways until either side ends; the user's socket closing leaves the session. */
function bridge(
  ws: WebSocket,
  responses: AsyncIterator<{ message: { case: string | undefined; value?: unknown } }>,
  input: ReturnType<typeof createAsyncQueue<OpenRequest>>,
  abort: AbortController,
): void {
  const send = (frame: MessageInitShape<typeof ConsoleFrameSchema>["frame"]) =>
    void input.push({ message: { case: "frame", value: { frame } } });
  const status = (json: object) => ws.send(Buffer.concat([Buffer.of(STATUS), Buffer.from(JSON.stringify(json))]));
  ws.on("message", (data: Buffer, isBinary) => {
    if (!isBinary || data.length === 0) return; // flightctl ignores text messages too
    const body = data.subarray(1);
    switch (data[0]) {
      case STDIN:
        return send({ case: "stdin", value: new Uint8Array(body) });
      case RESIZE: {
        const size = parseResize(body);
        if (!size) {
          status(k8sFailure("BadRequest", "a resize message must be JSON {Width, Height}"));
          return ws.close(1008, "bad resize message");
        }
        return send({ case: "resize", value: size });
      }
      case CLOSE:
        if (body[0] === STDIN) send({ case: "stdinEof", value: true });
        return;
    }
  });
  ws.on("close", () => {
    input.end();
    abort.abort();
  });
  ws.on("error", () => ws.terminate());
  void (async () => {
    let code = 1000;
    try {
      for (let r = await responses.next(); !r.done; r = await responses.next()) {
        if (r.value.message.case !== "frame") continue;
        const f = (r.value.message.value as ConsoleFrame).frame;
        if (f.case === "stdout" || f.case === "stderr") ws.send(Buffer.concat([Buffer.of(f.case === "stdout" ? STDOUT : STDERR), f.value]));
        else if (f.case === "close") status(k8sStatus(f.value));
      }
    } catch (e) {
      if (!abort.signal.aborted) {
        status(k8sFailure("InternalError", ConnectError.from(e).rawMessage));
        code = 1011;
      }
    }
    if (ws.readyState === ws.OPEN) ws.close(code);
  })();
}

/** A Connect transport onto one in-process handler, with the context values the endpoint gives its calls. */
function transport(handler: UniversalHandler, contextValues: ContextValues) {
  const httpClient: UniversalClientFn = async (r) => {
    const res = await handler({
      body: r.body ?? createAsyncIterable([]),
      httpVersion: "2.0", // a bidi stream; the handler refuses those over HTTP/1.1
      method: r.method,
      url: r.url,
      header: r.header,
      signal: r.signal ?? new AbortController().signal,
      contextValues,
    });
    return {
      status: res.status,
      header: new Headers(res.header),
      body: res.body ?? createAsyncIterable([]),
      trailer: new Headers(res.trailer),
    };
  };
  return createTransport({
    httpClient,
    baseUrl: "https://localhost",
    useBinaryFormat: true,
    interceptors: [],
    acceptCompression: [],
    sendCompression: null,
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    readMaxBytes: Number.MAX_SAFE_INTEGER,
    writeMaxBytes: Number.MAX_SAFE_INTEGER,
  });
}

/** flightctl's `metadata` query parameter (term, initialDimensions {Width, Height}, command, tty) as the proto's. */
function sessionMetadata(raw: string | null) {
  if (!raw) return {};
  let m: {
    term?: unknown;
    initialDimensions?: { Width?: unknown; Height?: unknown };
    command?: { command?: unknown; args?: unknown };
    tty?: unknown;
  };
  try {
    m = JSON.parse(raw);
  } catch (e) {
    throw new ConnectError(`metadata: not valid JSON: ${(e as Error).message}`, Code.InvalidArgument);
  }
  if (typeof m !== "object" || m === null || Array.isArray(m))
    throw new ConnectError("metadata: must be a JSON object", Code.InvalidArgument);
  const dims = m.initialDimensions;
  const args = m.command?.args;
  return {
    term: typeof m.term === "string" ? m.term : "",
    tty: m.tty === true,
    initialDimensions: dims ? { width: Number(dims.Width ?? 0), height: Number(dims.Height ?? 0) } : undefined,
    command:
      typeof m.command?.command === "string"
        ? { command: m.command.command, args: Array.isArray(args) ? args.map(String) : [] }
        : undefined,
  };
}

function parseResize(body: Buffer): { width: number; height: number } | undefined {
  try {
    const s = JSON.parse(body.toString("utf8")) as { Width?: unknown; Height?: unknown };
    if (Number.isInteger(s.Width) && Number.isInteger(s.Height)) return { width: s.Width as number, height: s.Height as number };
  } catch {}
  return undefined;
}

/** The end of the session as Kubernetes' Status on channel 3: Success, NonZeroExitCode with the code, or why it ended. */
function k8sStatus(c: ConsoleClose): object {
  if (c.exitCode === 0) return { metadata: {}, status: "Success" };
  if (c.exitCode !== undefined) {
    return {
      metadata: {},
      status: "Failure",
      message: `command terminated with non-zero exit code ${c.exitCode}`,
      reason: "NonZeroExitCode",
      code: c.exitCode,
      details: { causes: [{ reason: "ExitCode", message: String(Math.abs(c.exitCode)) }] },
    };
  }
  return k8sFailure("InternalError", [c.signal && `signal ${c.signal}`, c.reason].filter(Boolean).join(": ") || "session ended");
}

const k8sFailure = (reason: string, message: string) => ({ metadata: {}, status: "Failure", reason, message });

/** An answer instead of the upgrade: the status and a plain-text message, as flightctl's http.Error writes it. */
function refuse(socket: Duplex, status: number, message: string): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `${API_VERSION_HEADER}: ${API_VERSION}\r\nconnection: close\r\n\r\n${body}`,
  );
}
