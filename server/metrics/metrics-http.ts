// A plain HTTP listener serving GET /metrics on a port of its own, as flightctl's processes serve theirs: for the
// processes without an endpoint (flightctl-worker, flightctl-periodic), and for the API's service metrics when they
// are kept off the public user endpoint. No TLS and no authentication: bind it to loopback or a network only
// Prometheus reaches.
import { createServer } from "node:http";
import type { Logger } from "pino";
import { Registry } from "prom-client";
import { listen } from "../platform/listen.js";

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves `metrics` (a registry, or what renders the Prometheus text format) on `address`, host:port (port 0 picks a
 * free one; an empty host is every interface). With `health`, GET /health answers its JSON too.
 */
export async function startMetricsListener(
  metrics: Registry | (() => Promise<string>),
  address: string,
  log: Logger,
  health?: () => Record<string, unknown>,
): Promise<MetricsListener> {
  const render = typeof metrics === "function" ? metrics : () => metrics.metrics();
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new Error(`the metrics address must be host:port, got ${address}`);
  const host = m[1].replace(/^\[(.*)\]$/, "$1") || "0.0.0.0";
  const port = Number(m[2]);
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (health && req.method === "GET" && path === "/health") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(health()));
      return;
    }
    if (req.method !== "GET" || path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end("not found\n");
      return;
    }
    render().then(
      (text) => res.writeHead(200, { "content-type": Registry.PROMETHEUS_CONTENT_TYPE }).end(text),
      (err) => {
        log.error({ err }, "could not collect the metrics");
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" }).end("could not collect the metrics\n");
      },
    );
  });
  return listen(server, host, port);
}
