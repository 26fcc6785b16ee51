// The exporter's Prometheus metrics, with flightctl's names (flightctl_alert_exporter_*), on their own registry.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { collectProcessMetrics } from "../platform/process-metrics.js";

const P = "flightctl_alert_exporter_";

export function createExporterMetrics() {
  const registry = new Registry();
  const registers = [registry];
  collectProcessMetrics(registry, `${P}process_`);
  const started = Date.now();
  const m = {
    registry,
    cycles: new Counter({ name: `${P}processing_cycles_total`, help: "Processing cycles run.", registers }),
    cycleSeconds: new Histogram({
      name: `${P}processing_duration_seconds`,
      help: "Time of one processing cycle (events read, alerts sent).",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    events: new Counter({ name: `${P}events_processed_total`, help: "Events read by the rules.", registers }),
    active: new Gauge({ name: `${P}alerts_active_total`, help: "Alerts currently active.", registers }),
    created: new Counter({ name: `${P}alerts_created_total`, help: "Alerts raised.", registers }),
    resolved: new Counter({ name: `${P}alerts_resolved_total`, help: "Alerts resolved.", registers }),
    requests: new Counter({
      name: `${P}alertmanager_requests_total`,
      help: "Requests to Alertmanager, by outcome.",
      labelNames: ["status"] as const,
      registers,
    }),
    requestSeconds: new Histogram({
      name: `${P}alertmanager_request_duration_seconds`,
      help: "Time of one request to Alertmanager.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    retries: new Counter({ name: `${P}alertmanager_retries_total`, help: "Requests to Alertmanager retried.", registers }),
    checkpoints: new Counter({
      name: `${P}checkpoint_operations_total`,
      help: "Cursor loads and stores, by outcome.",
      labelNames: ["operation", "status"] as const,
      registers,
    }),
    lastSuccess: new Gauge({
      name: `${P}last_successful_processing_timestamp`,
      help: "Unix time of the last cycle that read the events and had Alertmanager take the alerts.",
      registers,
    }),
    errors: new Counter({
      name: `${P}errors_total`,
      help: "Errors, by component and type.",
      labelNames: ["component", "type"] as const,
      registers,
    }),
    leader: new Gauge({ name: `${P}leader`, help: "1 while this copy holds the lock and exports, 0 while it waits.", registers }),
  };
  new Gauge({
    name: `${P}uptime_seconds`,
    help: "Seconds since the exporter started.",
    registers,
    collect() {
      this.set((Date.now() - started) / 1000);
    },
  });
  return m;
}

export type ExporterMetrics = ReturnType<typeof createExporterMetrics>;
