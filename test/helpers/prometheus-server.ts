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
  /** An instant query; throws with Prometheus's error text when it refuses the query. */
  query(promql: string): Promise<PromSample[]>;
  close(): Promise<void>;
}

export async function startPrometheus(
  opts: {
    targets?: string[];
    /** Prometheus scrape_configs entries, as JSON (for TLS targets and several jobs); besides `targets`' job. */
    scrapeConfigs?: Record<string, unknown>[];
    scrapeIntervalMs?: number;
    remoteWriteReceiver?: boolean;
  } = {},
): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "prometheus-"));
  const port = await freePort();
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
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`prometheus did not start on ${url}: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    writeUrl: `${url}/api/v1/write`,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: promql })}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== "success") throw new Error(`prometheus refused ${promql}: ${body.error}`);
      return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
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
}
