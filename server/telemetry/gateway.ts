// flightctl-telemetry-gateway: devices export OTLP metrics and traces over mTLS (gRPC on :4317, OTLP/HTTP on :4318;
// each port serves both, the split is the OTLP convention), identified by their client certificate only. Metrics are
// served to Prometheus (exposition endpoint, :9464) and optionally pushed with remote write; both signals can be
// forwarded to another OTLP collector. Built on the same endpoint machinery as the API (http-server.ts: TLS, HTTP/2,
// size and connection limits) and the same PKI (the service CA verifies the devices' certificates).
import { createServer, type Server, type ServerResponse } from "node:http";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { AddressInfo } from "node:net";
import type { Pool } from "pg";
import type { Logger } from "pino";
import { createDb } from "../platform/db.js";
import { DEFAULT_ENDPOINT_LIMITS, type EndpointLimits } from "../platform/endpoint-limits.js";
import type { App } from "../platform/endpoint.js";
import { errorInterceptor } from "../platform/error-interceptor.js";
import { startEndpoint, type RunningServer } from "../platform/http-server.js";
import type { KeyPair } from "../platform/pki/ca.js";
import { createDeviceDirectory, type DeviceDirectory } from "./device-directory.js";
import { createTelemetryGate } from "./device-identity.js";
import { expositionChunks } from "./exposition.js";
import { createForwarder, type ForwardSettings } from "./forward.js";
import { createGatewayMetrics } from "./gateway-metrics.js";
import { createOtlpHttp } from "./otlp-http.js";
import { otlpServices, registerOtlp } from "./otlp-rpc.js";
import { createPointRate } from "./point-rate.js";
import { createReceiver } from "./receiver.js";
import { startRemoteWrite } from "./remote-write.js";
import { createSeriesStore } from "./series-store.js";

/** The gateway's settings (server/config.ts reads them from FLIGHTCTL_TELEMETRY_*; docs/telemetry.md lists them). */
export interface TelemetrySettings {
  /** OTLP/gRPC host:port (OTLP/HTTP is served there too). */
  grpcAddress: string;
  /** OTLP/HTTP host:port (OTLP/gRPC is served there too). */
  httpAddress: string;
  /** The Prometheus exposition endpoint's host:port, plain HTTP ("" or unset: none). */
  prometheusAddress?: string;
  /** A series no point updated for this long is dropped (ms). */
  staleAfterMs: number;
  /** Largest export request, bytes (after decompression for OTLP/HTTP). */
  maxRequestBytes: number;
  /** Series one device may hold. */
  maxSeriesPerDevice: number;
  /** Data points (spans) one device may send per minute, per signal (0: no limit). */
  maxPointsPerDevicePerMinute: number;
  /** Another OTLP/gRPC collector every export is passed on to. */
  forward?: ForwardSettings;
  /** A Prometheus remote-write receiver the series are pushed to. */
  remoteWrite?: { url: string; intervalMs: number };
}

export interface GatewayOptions {
  settings: TelemetrySettings;
  /** The API's database (devices are looked up in it); the caller owns the pool. */
  pool: Pool;
  /** The server certificate devices see, and the CA bundle their client certificates must chain to. */
  tls: { server: KeyPair; caBundlePem: string };
  log: Logger;
  /** Replaces the device lookup (tests). */
  directory?: DeviceDirectory;
}

export interface RunningGateway {
  grpcPort: number;
  httpPort: number;
  /** The exposition endpoint's port (undefined when off). */
  prometheusPort?: number;
  /** Pushes to remote write now (tests; it runs every interval anyway). */
  flushRemoteWrite(): Promise<void>;
  close(): Promise<void>;
}

/** host:port ([v6]:port; an empty host is every interface). */
function parseAddress(address: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`the address must be host:port, got "${address}"`);
  return { host: m[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0", port: Number(m[2]) };
}

export async function startTelemetryGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const { settings, log } = opts;
  const store = createSeriesStore({ maxSeriesPerDevice: settings.maxSeriesPerDevice, staleAfterMs: settings.staleAfterMs });
  const metrics = createGatewayMetrics(() => store.size);
  const forwarder = settings.forward ? createForwarder(settings.forward, metrics, log) : undefined;
  const receiver = createReceiver({
    gate: createTelemetryGate(opts.directory ?? createDeviceDirectory(createDb(opts.pool))),
    store,
    rate: createPointRate(settings.maxPointsPerDevicePerMinute),
    maxSeriesPerDevice: settings.maxSeriesPerDevice,
    metrics,
    forwarder,
  });
  const onInternal = (err: unknown, procedure: string) => log.error({ err, procedure }, "internal error");
  const app: App = {
    register: (router) => registerOtlp(router, receiver, metrics),
    interceptors: [errorInterceptor(onInternal)],
    services: otlpServices,
    files: otlpServices.map((s) => s.file),
  };
  const limits: EndpointLimits = {
    ...DEFAULT_ENDPOINT_LIMITS,
    maxRequestBytes: settings.maxRequestBytes,
    // Export requests are large lists of small items; the request size bounds them.
    input: { ...DEFAULT_ENDPOINT_LIMITS.input, maxItems: settings.maxRequestBytes },
  };
  const web = createOtlpHttp(receiver, metrics, limits, onInternal);
  const tls = { key: opts.tls.server.keyPem, cert: opts.tls.server.certPem, ca: opts.tls.caBundlePem };
  const started: { close(): Promise<void> }[] = [];
  const stop = async () => {
    for (const s of started.reverse()) await s.close();
  };
  try {
    const listen = (address: string): Promise<RunningServer> =>
      startEndpoint({ app, pool: opts.pool, log, tls, ...parseAddress(address), web, limits });
    const grpc = await listen(settings.grpcAddress);
    started.push(grpc);
    const http = await listen(settings.httpAddress);
    started.push(http);
    const remote = settings.remoteWrite ? startRemoteWrite({ ...settings.remoteWrite, store, metrics, log }) : undefined;
    if (remote) started.push(remote);
    let prometheusPort: number | undefined;
    if (settings.prometheusAddress) {
      const server = await serveExposition(settings.prometheusAddress, async function* () {
        metrics.stale.inc(store.sweep());
        yield await metrics.registry.metrics();
        yield* expositionChunks(store.families());
      });
      prometheusPort = (server.address() as AddressInfo).port;
      started.push({ close: () => new Promise<void>((r) => server.close(() => r())) });
    }
    if (forwarder) started.push(forwarder);
    // Stale series also go when nobody scrapes (remote write only, or forwarding only).
    const sweep = setInterval(() => metrics.stale.inc(store.sweep()), Math.min(30_000, Math.max(1000, settings.staleAfterMs / 2)));
    sweep.unref();
    started.push({ close: async () => clearInterval(sweep) });
    log.info(
      {
        grpc: grpc.port,
        http: http.port,
        prometheus: prometheusPort,
        remoteWrite: settings.remoteWrite?.url,
        forward: settings.forward?.endpoint,
      },
      "telemetry gateway listening",
    );
    return {
      grpcPort: grpc.port,
      httpPort: http.port,
      prometheusPort,
      flushRemoteWrite: async () => remote?.flush(),
      close: stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Resolves when `res` can take more (or is gone), leaving no listener behind. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/**
 * The exposition endpoint: GET /metrics (plain HTTP, as Prometheus scrapes by default). The body is sent chunk by
 * chunk, waiting for the socket when it is full and letting the exports in between run: a scrape of many devices'
 * series neither holds the whole text in memory nor stops the gateway for its duration.
 */
async function serveExposition(address: string, body: () => AsyncGenerator<string>): Promise<Server> {
  const { host, port } = parseAddress(address);
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found: the exposition is at GET /metrics\n");
      return;
    }
    (async () => {
      const chunks = body();
      // The first chunk (the gateway's own metrics) before the status: an error there can still be answered with 500.
      const first = await chunks.next();
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
      if (!first.done) res.write(first.value);
      for await (const chunk of chunks) {
        if (res.destroyed) return; // the scraper went away
        if (!res.write(chunk)) await drained(res);
        else await nextTurn();
      }
      res.end();
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end(`${err.message}\n`);
      else res.destroy(err);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
