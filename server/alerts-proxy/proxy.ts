// flightctl-alertmanager-proxy's HTTP server: Alertmanager's API v2 in front of a real Alertmanager, with the API's
// bearer tokens, roles and organizations (routes.ts). /-/healthy (this process), /-/ready and /api/v2/status
// (Alertmanager's, relayed) need no token, as load balancers and flightctl's proxy expect. Errors are JSON
// {code, message} with the HTTP status of the API's error mapping.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Logger } from "pino";
import { codeToHttpStatus } from "@connectrpc/connect/protocol-connect";
import { invalid, toConnectError } from "../platform/errors.js";
import { listen } from "../platform/listen.js";
import { AlertmanagerRefusal, type AlertmanagerClient } from "../alertmanager/alertmanager-client.js";
import type { ProxyAuth } from "./caller.js";
import { routeOf, type ProxyRequest } from "./routes.js";

/** Silences are small; anything larger is refused before parsing. */
const MAX_BODY_BYTES = 64 * 1024;

/** Paths answered without a token: Alertmanager's, relayed as they are. */
const PUBLIC_UPSTREAM = new Set(["/-/ready", "/api/v2/status"]);

export interface AlertmanagerProxyOptions {
  alertmanager: AlertmanagerClient;
  auth: ProxyAuth;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The server certificate (unset: plain HTTP, for behind a TLS-terminating proxy). */
  tls?: { key: string; cert: string };
  log: Logger;
}

export interface RunningProxy {
  port: number;
  close(): Promise<void>;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY_BYTES) throw invalid({ field: "", message: `the body is larger than ${MAX_BODY_BYTES} bytes` });
    chunks.push(c);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (e) {
    throw invalid({ field: "", message: `the body is not JSON: ${(e as Error).message}` });
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(body === null ? "" : JSON.stringify(body));
}

export async function startAlertmanagerProxy(opts: AlertmanagerProxyOptions): Promise<RunningProxy> {
  const { alertmanager: am, auth, log } = opts;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://proxy");
    const method = req.method ?? "GET";
    if (url.pathname === "/-/healthy" || url.pathname === "/health") {
      res.writeHead(200, { "content-type": "text/plain" }).end("OK\n");
      return;
    }
    if (PUBLIC_UPSTREAM.has(url.pathname) && method === "GET") {
      const up = await am.raw(url.pathname);
      res.writeHead(up.status, { "content-type": up.contentType }).end(up.body);
      return;
    }
    const route = routeOf(method, url.pathname);
    if (route === undefined) return sendJson(res, 404, { code: 404, message: `${url.pathname} is not served by the Alertmanager proxy` });
    if (typeof route === "string") {
      res.setHeader("allow", route);
      return sendJson(res, 405, { code: 405, message: `${url.pathname} takes ${route}, not ${method}` });
    }
    const request: ProxyRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization ?? null,
      body: () => readJson(req),
    };
    const answer = await route(request, { am, auth });
    sendJson(res, answer.status ?? 200, answer.json);
  }

  function fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // Alertmanager refusing what we sent (checked input): its words, its status.
    if (err instanceof AlertmanagerRefusal) {
      sendJson(res, err.status, { code: err.status, message: err.text });
      return;
    }
    const ce = toConnectError(err, (e) => log.error({ err: e }, "alertmanager proxy: internal error"));
    const status = codeToHttpStatus(ce.code);
    sendJson(res, status, { code: status, message: ce.rawMessage });
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err) => fail(res, err));
  };
  const server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, listener) : createHttpServer(listener);
  const listening = await listen(server, opts.host, opts.port);
  log.info({ address: `${opts.host}:${listening.port}`, tls: !!opts.tls, alertmanager: am.url }, "alertmanager proxy listening");
  return listening;
}
