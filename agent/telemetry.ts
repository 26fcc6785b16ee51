// The agent's OTLP metrics: host CPU, memory, disk and network (agent/host-readings.ts) and the agent's own counters
// (updates applied and failed, status reports, renewals, stream connections), read at each export and sent with the
// OpenTelemetry SDK over OTLP/gRPC to the telemetry gateway. The gateway knows the device from the client certificate
// alone (docs/telemetry.md), so the exporter presents the device's certificate and is rebuilt when it is renewed.
import { credentials } from "@grpc/grpc-js";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-grpc";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  AggregationTemporality,
  type InstrumentType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";
import type { Logger } from "pino";

type ExportDone = Parameters<PushMetricExporter["export"]>[1];
/** ExportResultCode.SUCCESS (@opentelemetry/core, not a dependency of its own here). */
const SUCCESS = 0;
import type { AppContainerStats } from "./apps/container-stats.js";
import type { TelemetryConfig } from "./config.js";
import { cpuTicks, fsUsage, meminfo, netDev, USER_HZ } from "./host-readings.js";

/** What the agent counts (the names of its AgentEvents that make a metric). */
export type CountedEvent = "applied" | "failed" | "status" | "renewed" | "connected";

export interface TelemetryOptions {
  config: TelemetryConfig;
  /** The CA bundle the gateway's server certificate is checked against (the agent endpoint's). */
  caPem: string;
  /** The device's key and the certificate it presents (management, or its device-svc-client certificate). */
  keyPem: string;
  certPem: string;
  /** Device root: its file system's usage is reported as mountpoint "/". */
  rootDir: string;
  deviceName: string;
  agentVersion: string;
  log: Logger;
  /** CPU and memory of the applications' containers (agent/apps/container-stats.ts); none when absent. */
  appStats?: () => Promise<AppContainerStats[]>;
}

export interface AgentTelemetry {
  count(e: CountedEvent): void;
  /** A renewed certificate: the next exports present it. */
  setCertificate(certPem: string): void;
  /** Sends what is collected now and stops. */
  close(): Promise<void>;
}

/** An exporter whose client certificate can change: each certificate gets its own OTLP exporter (gRPC channel). */
class RenewableExporter implements PushMetricExporter {
  private inner: OTLPMetricExporter;
  private failures = 0;
  constructor(
    private readonly make: (certPem: string) => OTLPMetricExporter,
    certPem: string,
    private readonly log: Logger,
  ) {
    this.inner = make(certPem);
  }
  export(metrics: ResourceMetrics, done: ExportDone): void {
    this.inner.export(metrics, (r) => {
      // A gateway that is down is logged once, then quietly until it answers again (exports go on at every interval).
      if (r.code !== SUCCESS) {
        const err = r.error?.message ?? "export failed";
        if (this.failures++ === 0) this.log.warn({ err }, "telemetry export failed; retrying at each interval");
        else this.log.debug({ err, failures: this.failures }, "telemetry export failed");
      } else if (this.failures) {
        this.log.info({ after: this.failures }, "telemetry export works again");
        this.failures = 0;
      }
      done(r);
    });
  }
  selectAggregationTemporality(_t: InstrumentType): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }
  forceFlush = () => this.inner.forceFlush();
  shutdown = () => this.inner.shutdown();
  swap(certPem: string) {
    const old = this.inner;
    this.inner = this.make(certPem);
    void old.shutdown().catch(() => {});
  }
}

export function startAgentTelemetry(opts: TelemetryOptions): AgentTelemetry {
  const { log } = opts;
  const exporter = new RenewableExporter(
    (certPem) =>
      new OTLPMetricExporter({
        url: opts.config.endpoint,
        credentials: credentials.createSsl(Buffer.from(opts.caPem), Buffer.from(opts.keyPem), Buffer.from(certPem)),
        timeoutMillis: Math.max(1000, Math.min(opts.config.intervalMs, 30_000)),
      }),
    opts.certPem,
    log,
  );
  const provider = new MeterProvider({
    // device_id is what the gateway stamps anyway (from the certificate); sent too for collectors that forward as is.
    resource: resourceFromAttributes({
      "service.name": "flightctl-agent",
      "service.version": opts.agentVersion,
      device_id: opts.deviceName,
    }),
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: opts.config.intervalMs })],
  });
  const meter = provider.getMeter("flightctl-agent", opts.agentVersion);

  // Host metrics, with OpenTelemetry's semantic-convention names (the gateway turns system.cpu.time into
  // system_cpu_time_seconds_total, etc.).
  const cpuTime = meter.createObservableCounter("system.cpu.time", { unit: "s", description: "CPU time by CPU and state" });
  const cpuUtil = meter.createObservableGauge("system.cpu.utilization", {
    unit: "1",
    description: "Busy share of all CPUs since the previous export",
  });
  const memUsage = meter.createObservableUpDownCounter("system.memory.usage", { unit: "By", description: "Memory by state" });
  const memUtil = meter.createObservableGauge("system.memory.utilization", { unit: "1", description: "Used share of memory" });
  const fsUsageM = meter.createObservableUpDownCounter("system.filesystem.usage", {
    unit: "By",
    description: "Device root file system by state",
  });
  const fsUtil = meter.createObservableGauge("system.filesystem.utilization", {
    unit: "1",
    description: "Used share of the device root file system",
  });
  const netIo = meter.createObservableCounter("system.network.io", { unit: "By", description: "Bytes by interface and direction" });
  const netPackets = meter.createObservableCounter("system.network.packets", { unit: "{packet}" });
  const netErrors = meter.createObservableCounter("system.network.errors", { unit: "{error}" });
  const netDropped = meter.createObservableCounter("system.network.dropped", { unit: "{packet}" });

  let lastCpu: { busy: number; total: number } | undefined;
  meter.addBatchObservableCallback(
    (r) => {
      // Each reading stands alone: one the host cannot give (no /proc here) leaves the others.
      try {
        for (const [name, ticks] of cpuTicks()) {
          if (name === "cpu") {
            const total = Object.values(ticks).reduce((a, b) => a + b, 0);
            const busy = total - ticks.idle - ticks.iowait;
            if (lastCpu && total > lastCpu.total) r.observe(cpuUtil, (busy - lastCpu.busy) / (total - lastCpu.total));
            lastCpu = { busy, total };
            continue;
          }
          const cpu = name.slice(3);
          for (const [state, v] of Object.entries(ticks)) r.observe(cpuTime, v / USER_HZ, { cpu, state });
        }
      } catch (err) {
        log.debug({ err: (err as Error).message }, "telemetry: cannot read CPU times");
      }
      try {
        const m = meminfo();
        const free = m.MemFree ?? 0;
        const buffers = m.Buffers ?? 0;
        const cached = (m.Cached ?? 0) + (m.SReclaimable ?? 0);
        const used = Math.max(0, (m.MemTotal ?? 0) - free - buffers - cached);
        for (const [state, v] of Object.entries({ used, free, buffers, cached })) r.observe(memUsage, v, { state });
        if (m.MemTotal) r.observe(memUtil, 1 - (m.MemAvailable ?? free) / m.MemTotal);
      } catch (err) {
        log.debug({ err: (err as Error).message }, "telemetry: cannot read memory");
      }
      const disk = fsUsage(opts.rootDir);
      if (disk) {
        for (const [state, v] of Object.entries(disk)) r.observe(fsUsageM, v, { mountpoint: "/", state });
        const total = disk.used + disk.reserved + disk.free;
        if (total) r.observe(fsUtil, (disk.used + disk.reserved) / total, { mountpoint: "/" });
      }
      for (const [device, c] of netDev()) {
        const both = (m: Parameters<typeof r.observe>[0], rx: number, tx: number) => {
          r.observe(m, rx, { device, direction: "receive" });
          r.observe(m, tx, { device, direction: "transmit" });
        };
        both(netIo, c.receiveBytes, c.transmitBytes);
        both(netPackets, c.receivePackets, c.transmitPackets);
        both(netErrors, c.receiveErrors, c.transmitErrors);
        both(netDropped, c.receiveDropped, c.transmitDropped);
      }
    },
    [cpuTime, cpuUtil, memUsage, memUtil, fsUsageM, fsUtil, netIo, netPackets, netErrors, netDropped],
  );

  // Applications' containers (labels app, container), read from podman at each export.
  if (opts.appStats) {
    const appStats = opts.appStats;
    const ctrCpu = meter.createObservableCounter("container.cpu.time", {
      unit: "s",
      description: "CPU time of an application's container",
    });
    const ctrMem = meter.createObservableGauge("container.memory.usage", {
      unit: "By",
      description: "Memory of an application's container",
    });
    const ctrLimit = meter.createObservableGauge("container.memory.limit", { unit: "By" });
    let appFailures = 0;
    meter.addBatchObservableCallback(
      async (r) => {
        try {
          for (const s of await appStats()) {
            const attrs = { app: s.app, container: s.container };
            r.observe(ctrCpu, s.cpuSeconds, attrs);
            r.observe(ctrMem, s.memoryBytes, attrs);
            r.observe(ctrLimit, s.memoryLimitBytes, attrs);
          }
          appFailures = 0;
        } catch (err) {
          if (appFailures++ === 0) log.warn({ err: (err as Error).message }, "telemetry: cannot read the applications' container stats");
        }
      },
      [ctrCpu, ctrMem, ctrLimit],
    );
  }

  // The agent's own counters.
  const updates = meter.createCounter("flightctl.agent.updates", { unit: "{update}", description: "Spec versions applied or failed" });
  const reports = meter.createCounter("flightctl.agent.status_reports", {
    unit: "{report}",
    description: "Status reports the service accepted",
  });
  const renewals = meter.createCounter("flightctl.agent.certificate_renewals", { unit: "{renewal}" });
  const connections = meter.createCounter("flightctl.agent.stream_connections", {
    unit: "{connection}",
    description: "Rendered-device streams opened",
  });
  // Present from the first export (at 0), so a rate over them works before the first event.
  updates.add(0, { result: "applied" });
  updates.add(0, { result: "failed" });
  reports.add(0);
  renewals.add(0);
  connections.add(0);

  log.info({ endpoint: opts.config.endpoint, intervalMs: opts.config.intervalMs }, "telemetry export started");
  let closed = false;
  return {
    count(e) {
      if (e === "applied" || e === "failed") updates.add(1, { result: e });
      else if (e === "status") reports.add(1);
      else if (e === "renewed") renewals.add(1);
      else if (e === "connected") connections.add(1);
    },
    setCertificate(certPem) {
      if (!closed) exporter.swap(certPem);
    },
    async close() {
      if (closed) return;
      closed = true;
      await provider.shutdown().catch((err: Error) => log.debug({ err: err.message }, "telemetry: last export failed"));
    },
  };
}
