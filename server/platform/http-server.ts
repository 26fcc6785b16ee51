// RPC endpoints: HTTPS with HTTP/2 and HTTP/1.1 negotiated by ALPN, serving Connect, gRPC and gRPC-Web for every
// service, flightctl's REST paths (rest/), gRPC health and reflection, and plain /healthz, /readyz and /metrics.
// Graceful close drains it. The user endpoint serves the App; the agent endpoint also asks for client certificates and
// hands the peer's certificate to its interceptors.
import type { ServerResponse } from "node:http";
import { constants } from "node:crypto";
import http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import { createContextValues } from "@connectrpc/connect";
import type { Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { App } from "./endpoint.js";
import { databaseReady } from "./db.js";
import { peerKey, peerOfSocket, type Peer } from "./peer.js";
import { remoteAddressKey } from "./client-ip.js";
import { isPlainGrpc, procedurePath, serveRaw, type RawOptions } from "./grpc-stream.js";
import { createHealth, healthFile } from "./health.js";
import { createMetrics } from "./metrics.js";
import { registerReflection } from "./reflection.js";
import type { WebHandler } from "./web-static.js";
import { mapWireErrors } from "./wire-errors.js";
import { DEFAULT_ENDPOINT_LIMITS, type EndpointLimits } from "./endpoint-limits.js";
import { inputInterceptor } from "./input-interceptor.js";
import { restHandler } from "./rest/rest-handler.js";
import { restRoutes } from "./rest/rest-routes.js";
import { consoleUpgrade } from "./rest/rest-console.js";
import type { UniversalHandler } from "@connectrpc/connect/protocol";

export interface EndpointOptions {
  app: App;
  pool: Pool;
  log: Logger;
  /** Server key and certificate; with `ca`, client certificates are requested (not required) and checked against it. */
  tls: { key: string; cert: string; ca?: string };
  host: string;
  port: number;
  /** How long close() lets in-flight calls finish before cutting connections (default 10 s). */
  drainMs?: number;
  /** Serves the web UI for GETs that are no RPC (the user endpoint; see web-static.ts). */
  web?: WebHandler;
  /** Request size, request message and connection limits (default: endpoint-limits.ts). */
  limits?: EndpointLimits;
  /** More of /metrics after the endpoint's own RPC metrics (the service metrics), in the Prometheus text format. */
  moreMetrics?: () => Promise<string>;
  /**
   * HTTP/2 header compression's dynamic tables (HPACK, RFC 7541), one pair per session (default on). Off, headers
   * travel as literals (Huffman-coded still) and a session holds no table: for many long-lived sessions that send a
   * few headers an hour, where the tables cost more memory than they save bytes.
   */
  headerTables?: boolean;
}

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** How long after an early response its HTTP/2 stream is reset (see the request listener below). */
const EARLY_RESET_DELAY_MS = 25;

/** Starts an endpoint serving `opts.app` (the user API or the agent API). */
export async function startEndpoint(opts: EndpointOptions): Promise<RunningServer> {
  const { app, log } = opts;
  const limits = opts.limits ?? DEFAULT_ENDPOINT_LIMITS;
  const metrics = createMetrics();
  const health = createHealth(app.services);
  // What each TLS connection presented, read once per connection. Keyed by the HTTP/2 session (each request sees its
  // own socket proxy) or, for HTTP/1.1, the socket.
  const peers = new WeakMap<object, Peer>();
  const peerOf = (connection: object, sock: TLSSocket): Peer => {
    let peer = peers.get(connection);
    if (!peer) {
      peer = peerOfSocket(sock);
      peers.set(connection, peer);
    }
    return peer;
  };

  // The peer's address (per-IP rate limits) and certificate as the TLS layer saw it (only the agent endpoint asks
  // for one); REST calls (rest/) get the same.
  const contextValues = (req: { socket: Socket }) => {
    const values = createContextValues();
    values.set(remoteAddressKey, req.socket.remoteAddress);
    if (opts.tls.ca) {
      const session = (req as { stream?: http2.ServerHttp2Stream }).stream?.session;
      values.set(peerKey, peerOf(session ?? req.socket, req.socket as TLSSocket));
    }
    return values;
  };
  const handlers: UniversalHandler[] = [];
  const handler = connectNodeAdapter({
    routes(router) {
      app.register(router);
      health.register(router);
      registerReflection(router, [...app.files, healthFile]);
      mapWireErrors(router.handlers);
      handlers.push(...router.handlers);
    },
    interceptors: [
      metrics.interceptor,
      (next) => async (req) => {
        // Skipped unless asked for: it would cost every call a timer read and a log object.
        if (!log.isLevelEnabled("debug")) return next(req);
        const started = performance.now();
        try {
          return await next(req);
        } finally {
          log.debug({ procedure: `${req.service.typeName}/${req.method.name}`, ms: +(performance.now() - started).toFixed(1) }, "rpc");
        }
      },
      ...app.interceptors,
      inputInterceptor(limits.input),
    ],
    jsonOptions: { ignoreUnknownFields: false },
    contextValues,
    readMaxBytes: limits.maxRequestBytes,
    // No shutdownSignal: Connect links every call to it with addEventListener, whose cost grows with the listeners
    // already there (one per open stream). app.drain() ends the streams instead.
    async fallback(req, res) {
      const path = (req.url ?? "").split("?")[0];
      const send = (status: number, body: string, type = "text/plain; charset=utf-8") => {
        res.writeHead(status, { "content-type": type });
        res.end(body);
      };
      if (req.method === "GET" && path === "/healthz") return send(200, "ok\n");
      if (req.method === "GET" && path === "/readyz") {
        return (await databaseReady(opts.pool)) ? send(200, "ok\n") : send(503, "database unavailable\n");
      }
      if (req.method === "GET" && path === "/metrics") {
        const more = (await opts.moreMetrics?.()) ?? "";
        return send(200, (await metrics.registry.metrics()) + more, metrics.registry.contentType);
      }
      if (await rest(req, res)) return;
      if (opts.web?.(req, res)) return;
      send(404, "not found\n");
    },
  });

  // flightctl's REST paths, transcoded onto the Connect handlers above (rest/rest-handler.ts).
  const rest = restHandler({
    routes: restRoutes(app.services),
    handlers,
    contextValues,
    maxRequestBytes: limits.maxRequestBytes,
    logInternal: (err) => log.error({ err }, "internal error"),
  });

  // The agent endpoint (client certificates) issues no TLS session tickets: agents do not resume sessions, and
  // minting two tickets per handshake (each the encrypted session with the client's certificate) cost ≈1 ms of CPU
  // and 13 KB of memory per connection (bench:idle-streams; 10,000 agents: 10 s of CPU while they connect, 130 MB).
  const clientCerts = opts.tls.ca
    ? { ca: opts.tls.ca, requestCert: true, rejectUnauthorized: false, secureOptions: constants.SSL_OP_NO_TICKET }
    : {};
  const server = http2.createSecureServer(
    {
      key: opts.tls.key,
      cert: opts.tls.cert,
      allowHTTP1: true,
      ...clientCerts,
      handshakeTimeout: limits.tlsHandshakeTimeoutMs,
      // Without header tables: SETTINGS_HEADER_TABLE_SIZE 0 (the client keeps no entries for us to mirror) and no
      // entries of our own for the responses.
      settings: { maxConcurrentStreams: limits.maxConcurrentStreams, ...(opts.headerTables === false ? { headerTableSize: 0 } : {}) },
      ...(opts.headerTables === false ? { maxDeflateDynamicTableSize: 0 } : {}),
    },
    (req, res) => {
      // A response sent before the whole request arrived (a body over the size limit) resets the HTTP/2 stream with
      // NO_ERROR, as RFC 9113 §8.1 allows: the client stops sending and reads the answer, instead of waiting on flow
      // control for a window the server will never open. (HTTP/1.1 closes the connection after such an answer.) The stream's
      // own 'finish' is used (the compatibility response's waits for the stream to close); the reset waits a moment
      // so the trailers just queued (gRPC's status) leave before it — reset at once, they are lost.
      if (req.httpVersionMajor === 2) {
        const stream = req.stream;
        stream.once("finish", () => {
          if (req.complete) return;
          setTimeout(() => stream.destroyed || stream.close(http2.constants.NGHTTP2_NO_ERROR), EARLY_RESET_DELAY_MS).unref();
        });
      } else {
        if (!req.socket.destroyed) req.socket.setTimeout(0); // HTTP/1.1: headers came (see secureConnection below)
        // An answer written before the whole body arrived (over the size limit) closes the connection: a keep-alive
        // client would otherwise send its next request behind a body nobody reads, and wait for an answer forever.
        const writeHead = res.writeHead;
        res.writeHead = ((...args: Parameters<typeof res.writeHead>) => {
          // Under allowHTTP1 an HTTP/1.1 request gets node:http's response, typed as HTTP/2's.
          if (!req.complete) (res as unknown as ServerResponse).shouldKeepAlive = false;
          return writeHead.apply(res, args);
        }) as typeof res.writeHead;
      }
      handler(req, res);
    },
  );
  // flightctl's console WebSocket route (rest/rest-console.ts): an HTTP/1.1 upgrade, which allowHTTP1 hands to this
  // server's 'upgrade' listeners (WebSockets over HTTP/2 are not asked for by flightctl's clients).
  server.on(
    "upgrade",
    consoleUpgrade({
      handlers,
      contextValues,
      maxMessageBytes: limits.maxRequestBytes,
      logInternal: (err) => log.error({ err }, "internal error"),
    }),
  );
  // HTTP/1.1 connections (ALPN http/1.1, allowHTTP1): Node's keep-alive timer, and its headers timer where this Node
  // version applies it under an HTTP/2 server (the first request's headers are timed below in any case).
  Object.assign(server, { headersTimeout: limits.headersTimeoutMs, keepAliveTimeout: limits.keepAliveTimeoutMs });
  // Raw streams (grpc-stream.ts) take plain gRPC calls of their methods before Node's compatibility layer
  // (and so Connect) sees them; anything else continues to Connect.
  // Each method's options are one object for all its calls (they live as long as the stream: grpc-stream.ts).
  const raw = new Map(
    (app.rawStreams?.() ?? []).map((rs) => {
      const rawOpts: RawOptions = {
        limits,
        logInternal(err) {
          log.error({ err, procedure: procedurePath(rs.method) }, "internal error");
        },
        done(code, started) {
          metrics.record(rs.method, code, started);
        },
      };
      return [procedurePath(rs.method), { rs, rawOpts }] as const;
    }),
  );
  if (raw.size) {
    const compat = server.listeners("stream") as ((...args: unknown[]) => void)[];
    server.removeAllListeners("stream");
    server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
      const served = raw.get(headers[":path"] ?? "");
      if (served && isPlainGrpc(headers)) {
        const started = process.hrtime.bigint();
        const peer = peerOf(stream.session!, stream.session!.socket as TLSSocket);
        // Not the request headers: a dictionary of ≈ 0.5 KB a stream would keep.
        serveRaw(stream, served.rs, peer, served.rawOpts, started);
        return;
      }
      for (const listener of compat) listener.call(server, stream, headers, ...rest);
    });
  }
  // Each HTTP/2 session's open streams, and since when it has had none: the idle sweep closes sessions idle too long.
  const sessions = new Map<http2.ServerHttp2Session, { open: number; idleSince: number; streamClosed(): void }>();
  const sockets = new Set<Socket>();
  server.on("session", (s) => {
    const state = {
      open: 0,
      idleSince: performance.now(),
      // One listener per session for all its streams' 'close' (a `once` wrapper and a closure per stream lived as long
      // as the stream: ≈ 0.2 KB each). A method: a named closure costs more under tsx (grpc-stream.ts `Responder`).
      streamClosed() {
        if (--state.open === 0) state.idleSince = performance.now();
      },
    };
    sessions.set(s, state);
    s.on("stream", (stream: http2.ServerHttp2Stream) => {
      state.open++;
      stream.on("close", state.streamClosed);
    });
    s.on("close", () => sessions.delete(s));
  });
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const [s, state] of sessions) {
        if (state.open === 0 && now - state.idleSince >= limits.http2IdleTimeoutMs && !s.closed) s.close(); // GOAWAY
      }
    },
    Math.max(50, Math.min(limits.http2IdleTimeoutMs / 4, 10_000)),
  );
  sweep.unref();
  server.on("secureConnection", (sock: TLSSocket) => {
    // HTTP/1.1: the first request's headers must come within the headers timeout (Node's own headersTimeout does not
    // apply under an HTTP/2 server); the request listener clears it, keep-alive idling is Node's keepAliveTimeout.
    if (sock.alpnProtocol !== "h2") {
      sock.setTimeout(limits.headersTimeoutMs);
      sock.once("timeout", () => sock.destroy());
    }
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    // Node's TLS server gives every socket its own copy of the ALPN list (12 bytes cut from the shared 8 KB Buffer
    // pool) and keeps it in the socket's options after the handshake has used it: each live copy pins its whole
    // pool slab (at 10,000 agents ≈ 2,000 slabs, 16 MB). The negotiated protocol is in sock.alpnProtocol.
    const tlsOptions = (sock as TLSSocket & { _tlsOptions?: { ALPNProtocols?: unknown } })._tlsOptions;
    if (tlsOptions) tlsOptions.ALPNProtocols = undefined;
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    port,
    close: () =>
      (closing ??= (async () => {
        health.shutdown();
        clearInterval(sweep);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const s of sessions.keys()) s.close(); // GOAWAY: in-flight streams finish, no new ones
        app.drain?.(); // ends open server streams (watches) and long-polls
        const timer = setTimeout(() => {
          for (const sock of sockets) sock.destroy();
        }, opts.drainMs ?? 10_000);
        // HTTP/1.1 keep-alive sockets that are idle do not close by themselves.
        for (const sock of sockets) if (!sessions.size) sock.end();
        await closed;
        clearTimeout(timer);
      })()),
  };
}
