// A real Alertmanager for tests: Debian's /usr/bin/prometheus-alertmanager (0.25, API v2) on a free loopback port,
// clustering off, its storage in a temp dir, routing every alert to a webhook server in the test, so a test sees what
// a pager would get. Grouping is short by default (group_wait/group_interval 1s) so tests do not wait for the 30s/5m
// defaults; pass `route` to override.
//
//   const am = await startAlertmanager();
//   // ... post alerts to am.url + "/api/v2/alerts", or point the exporter at am.url
//   const hits = await am.webhook.waitFor((n) => n.alerts.some((a) => a.labels.alertname === "DeviceDisconnected"));
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const ALERTMANAGER_BIN = "/usr/bin/prometheus-alertmanager";

/** One alert inside a webhook notification (Alertmanager's webhook payload, version 4). */
export interface WebhookAlert {
  status: "firing" | "resolved";
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
}

/** One POST Alertmanager made to the webhook receiver. */
export interface WebhookNotification {
  receiver: string;
  status: "firing" | "resolved";
  alerts: WebhookAlert[];
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  groupKey: string;
}

export interface WebhookReceiver {
  url: string;
  /** Every notification received so far, in order. */
  notifications: WebhookNotification[];
  /** Resolves with the first notification (already received or later) that satisfies `pred`; rejects after timeoutMs. */
  waitFor(pred: (n: WebhookNotification) => boolean, timeoutMs?: number): Promise<WebhookNotification>;
  close(): Promise<void>;
}

/** A plain HTTP server that records Alertmanager's webhook POSTs. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const notifications: WebhookNotification[] = [];
  const waiters = new Set<() => void>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      try {
        notifications.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as WebhookNotification);
      } catch {
        // not Alertmanager's JSON: ignore, the test will not find it
      }
      res.writeHead(200).end();
      for (const w of waiters) w();
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    notifications,
    waitFor(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = notifications.find(pred);
          if (!hit) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`webhook: no matching notification within ${timeoutMs} ms (${notifications.length} received)`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A v2 API alert as GET /api/v2/alerts returns it. */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  fingerprint: string;
  status: { state: "active" | "suppressed" | "unprocessed"; silencedBy: string[]; inhibitedBy: string[] };
}

export interface AlertmanagerServer {
  /** http://127.0.0.1:port */
  url: string;
  webhook: WebhookReceiver;
  /** GET /api/v2/alerts (active, silenced and inhibited included), optionally with `filter` matchers. */
  alerts(filter?: string[]): Promise<AmAlert[]>;
  /** Stops Alertmanager (SIGTERM) but keeps its storage (silences, notification log; alerts live in memory and are
   * gone until re-posted), for outage tests; start() runs it again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops everything and removes the storage. */
  close(): Promise<void>;
}

export async function startAlertmanager(
  opts: {
    /** Alertmanager `route` (JSON); its receiver must be "webhook". Default: group_by [alertname, resource], 1s waits. */
    route?: Record<string, unknown>;
    /** Alertmanager `global.resolve_timeout`; default 5m as flightctl ships. */
    resolveTimeout?: string;
  } = {},
): Promise<AlertmanagerServer> {
  const dir = mkdtempSync(join(tmpdir(), "alertmanager-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const webhook = await startWebhookReceiver();
  const route = opts.route ?? {
    receiver: "webhook",
    group_by: ["alertname", "resource", "org_id"],
    group_wait: "1s",
    group_interval: "1s",
    repeat_interval: "12h",
  };
  // JSON is YAML.
  writeFileSync(
    join(dir, "alertmanager.yml"),
    JSON.stringify({
      global: { resolve_timeout: opts.resolveTimeout ?? "5m" },
      route,
      receivers: [{ name: "webhook", webhook_configs: [{ url: webhook.url, send_resolved: true }] }],
    }),
  );
  const args = [
    `--config.file=${join(dir, "alertmanager.yml")}`,
    `--storage.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--cluster.listen-address=",
    "--log.level=warn",
  ];
  let child: ReturnType<typeof spawn> | undefined;
  let stderr = "";

  async function start(): Promise<void> {
    const c = spawn(ALERTMANAGER_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    child = c;
    c.stderr?.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${url}/-/ready`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      if (c.exitCode !== null || Date.now() > deadline) {
        c.kill("SIGKILL");
        throw new Error(`alertmanager did not start on ${url}: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async function stop(): Promise<void> {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once("exit", () => r()));
    c.kill("SIGTERM");
    // Generous: on SIGTERM Alertmanager snapshots its notification log, which tells it after a restart what it already
    // notified (killed before that, it would not send the resolution of an alert it had notified as firing).
    const t = setTimeout(() => c.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(t);
  }

  try {
    await start();
  } catch (e) {
    await webhook.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  return {
    url,
    webhook,
    async alerts(filter = []) {
      const q = new URLSearchParams();
      for (const f of filter) q.append("filter", f);
      const res = await fetch(`${url}/api/v2/alerts?${q}`);
      if (!res.ok) throw new Error(`alertmanager GET /api/v2/alerts: ${res.status} ${await res.text()}`);
      return (await res.json()) as AmAlert[];
    },
    stop,
    start,
    async close() {
      await stop();
      await webhook.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
