// A real Prometheus for tests: Debian's /usr/bin/prometheus on a free loopback port, its TSDB in a temp dir, scraping
// the given targets (plain HTTP /metrics) every `scrapeIntervalMs`; optionally a remote-write receiver
// (--web.enable-remote-write-receiver, POST /api/v1/write). close() stops it and removes the data.
//
//   const prom = await startPrometheus({ targets: ["127.0.0.1:9464"] });
//   const rows = await prom.query('up{job="test"}');
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export const PROMETHEUS_BIN = "/usr/bin/prometheus";

/** One instant-vector result: its labels and value. */
export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  /** http://127.0.0.1:port */
  url: string;
  /** The remote-write URL (when started as a receiver). */
  writeUrl: string;
  /** An instant query (now, or at Unix seconds `at`); throws with Prometheus's error text when it refuses the query. */
  query(promql: string, at?: number): Promise<PromSample[]>;
  /**
   * Until `promql` has a result at the last whole second (the first scrape is in, and older than the whole-second
   * end a chart's range query gets), polling every 200 ms; throws after `withinMs`.
   */
  waitFor(promql: string, withinMs?: number): Promise<PromSample[]>;
  close(): Promise<void>;
}

export interface PrometheusOptions {
  targets?: string[];
  /** Prometheus scrape_configs entries, as JSON (for TLS targets and several jobs); besides `targets`' job. */
  scrapeConfigs?: Record<string, unknown>[];
  scrapeIntervalMs?: number;
  remoteWriteReceiver?: boolean;
}

export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusServer> {
  // A port is free when picked, not when Prometheus binds it seconds later: a test running beside this one may take
  // it first, and then its Prometheus answers /-/ready here. So the one that answers must be this one (its TSDB path),
  // else another port is tried.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOn(await freePort(), opts);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt >= 5) throw e;
    }
  }
}

class PortTaken extends Error {}

async function startOn(port: number, opts: PrometheusOptions): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const url = `http://127.0.0.1:${port}`;
  const interval = `${opts.scrapeIntervalMs ?? 1000}ms`;
  const jobs: Record<string, unknown>[] = [
    ...(opts.targets?.length ? [{ job_name: "test", scrape_timeout: interval, static_configs: [{ targets: opts.targets }] }] : []),
    ...(opts.scrapeConfigs ?? []),
  ];
  // JSON is YAML.
  writeFileSync(
    join(dir, "prometheus.yml"),
    JSON.stringify({ global: { scrape_interval: interval, evaluation_interval: "10s" }, scrape_configs: jobs }),
  );
  const args = [
    `--config.file=${join(dir, "prometheus.yml")}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
    ...(opts.remoteWriteReceiver ? ["--web.enable-remote-write-receiver"] : []),
  ];
  const child = spawn(PROMETHEUS_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) {
      if (await ours(url, join(dir, "data"))) break;
      child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
      throw new PortTaken(`another Prometheus answers on ${url}`);
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus did not start on ${url}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const server: PrometheusServer = {
    url,
    writeUrl: `${url}/api/v1/write`,
    async query(promql, at) {
      const params = new URLSearchParams({ query: promql, ...(at === undefined ? {} : { time: String(at) }) });
      const res = await fetch(`${url}/api/v1/query?${params}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== "success") throw new Error(`prometheus refused ${promql}: ${body.error}`);
      return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    // 120 s by default: a loaded CI machine has taken more than 20 s to start Prometheus and scrape.
    async waitFor(promql, withinMs = 120_000) {
      const until = Date.now() + withinMs;
      for (;;) {
        const rows = await server.query(promql, Math.floor(Date.now() / 1000));
        if (rows.length) return rows;
        if (Date.now() > until) throw new Error(`prometheus had no result for ${promql} within ${withinMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async close() {
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Whether the Prometheus answering at `url` is the one keeping its TSDB at `tsdb`. */
async function ours(url: string, tsdb: string): Promise<boolean> {
  const res = await fetch(`${url}/api/v1/status/flags`);
  const body = (await res.json()) as { data?: Record<string, string> };
  return body.data?.["storage.tsdb.path"] === tsdb;
}
