// The fleet-wide gauges (flightctl's domain collectors, with its metric names and labels): devices per organization,
// fleet and status, fleets per rollout state, repositories, ResourceSyncs, and the job queue's depth. flightctl has
// every API replica count the whole database every tick; here one replica at a time computes them per interval
// (metrics-snapshot-store.ts: an advisory lock and the snapshot's age) and every replica serves that one snapshot, so
// the counting runs once however many replicas there are, and each replica reports the very same figures.
import { Gauge, Registry } from "prom-client";
import type { Logger } from "pino";
import { createDeviceQueries } from "../devices/device-store.js";
import { createFleetStore } from "../fleets/fleet-store.js";
import { queueDepthByTask } from "../jobs/queue-store.js";
import { countRepositoriesByOrg } from "../repositories/repository-store.js";
import { createResourceSyncStore } from "../resourcesyncs/resourcesync-store.js";
import type { Db, Executor } from "../platform/db.js";
import { createMetricsSnapshotStore, type Sample, type Snapshot } from "./metrics-snapshot-store.js";

const DEVICE_LABELS = ["organization_id", "fleet", "status"];

/** Each gauge: help, labels, and the sample that stands for "nothing counted" (as flightctl: the series stays). */
export const FLEET_GAUGES: Record<string, { help: string; labels: string[]; none?: Record<string, string> }> = {
  flightctl_devices_summary: {
    help: "Devices by organization, fleet (owner) and status.summary.status.",
    labels: DEVICE_LABELS,
    none: { organization_id: "unknown", fleet: "unknown", status: "none" },
  },
  flightctl_devices_application: {
    help: "Devices by organization, fleet (owner) and status.applicationsSummary.status.",
    labels: DEVICE_LABELS,
    none: { organization_id: "unknown", fleet: "unknown", status: "none" },
  },
  flightctl_devices_update: {
    help: "Devices by organization, fleet (owner) and status.updated.status.",
    labels: DEVICE_LABELS,
    none: { organization_id: "unknown", fleet: "unknown", status: "none" },
  },
  flightctl_fleets: {
    help: "Fleets by organization and rollout state (the RolloutInProgress condition's reason; Inactive without one).",
    labels: ["organization_id", "status"],
    none: { organization_id: "unknown", status: "none" },
  },
  flightctl_repositories_total: {
    help: "Repositories by organization.",
    labels: ["organization_id"],
    none: { organization_id: "unknown" },
  },
  flightctl_resourcesyncs: {
    help: 'ResourceSyncs by organization and the status of their Synced condition ("none" before the first sync).',
    labels: ["organization_id", "status"],
    none: { organization_id: "unknown", status: "none" },
  },
  flightctl_worker_queue_depth: {
    help: "Background jobs due and waiting for a worker, by task (queue).",
    labels: ["queue"],
  },
  flightctl_metrics_snapshot_compute_seconds: {
    help: "How long the last computation of these fleet-wide gauges took (its counting queries).",
    labels: [],
  },
};

const DEVICE_GAUGE = {
  summary: "flightctl_devices_summary",
  applications: "flightctl_devices_application",
  updated: "flightctl_devices_update",
};

/** Counts everything the gauges show, on `tx` (the stores' counting queries: a few grouped scans). */
export async function computeFleetSamples(tx: Executor, opts: { groupByFleet: boolean }): Promise<Sample[]> {
  const started = performance.now();
  const samples: Sample[] = [];
  for (const c of await createDeviceQueries(tx).countStatusesForMetrics(opts.groupByFleet)) {
    const labels = { organization_id: c.orgId, fleet: c.owner || "unknown", status: c.status };
    samples.push({ name: DEVICE_GAUGE[c.kind], labels, value: c.count });
  }
  for (const c of await createFleetStore(tx).countByRolloutStatus()) {
    samples.push({ name: "flightctl_fleets", labels: { organization_id: c.orgId, status: c.status }, value: c.count });
  }
  for (const c of await countRepositoriesByOrg(tx)) {
    samples.push({ name: "flightctl_repositories_total", labels: { organization_id: c.orgId }, value: c.count });
  }
  for (const c of await createResourceSyncStore(tx).countBySyncedStatus()) {
    samples.push({ name: "flightctl_resourcesyncs", labels: { organization_id: c.orgId, status: c.status }, value: c.count });
  }
  for (const c of await queueDepthByTask(tx))
    samples.push({ name: "flightctl_worker_queue_depth", labels: { queue: c.task }, value: c.count });
  for (const [name, g] of Object.entries(FLEET_GAUGES)) {
    if (g.none && !samples.some((s) => s.name === name)) samples.push({ name, labels: g.none, value: 0 });
  }
  samples.push({ name: "flightctl_metrics_snapshot_compute_seconds", labels: {}, value: (performance.now() - started) / 1000 });
  return samples;
}

export interface FleetGaugesOptions {
  db: Db;
  log: Logger;
  /** How often the gauges are computed (by whichever replica comes first). */
  intervalMs: number;
  /** The devices' gauges carry their owner in `fleet` (false: "unknown", fewer series). */
  groupByFleet: boolean;
}

export interface FleetGauges {
  /** The gauges of the last snapshot, in the Prometheus text format ("" before the first snapshot). */
  text(): Promise<string>;
  /** Computes now if due (the timer does this every interval). Returns whether this replica computed. */
  tick(): Promise<boolean>;
  close(): Promise<void>;
}

/** A scrape reads the snapshot at most this often (several scrapers, or both endpoints, cost one read). */
const READ_CACHE_MS = 1000;

/** Computes the gauges every interval when due, and serves the snapshot. */
export function startFleetGauges(opts: FleetGaugesOptions): FleetGauges {
  const store = createMetricsSnapshotStore(opts.db);
  const registry = new Registry();
  const gauges = new Map(
    Object.entries(FLEET_GAUGES).map(([name, g]) => [name, new Gauge({ name, help: g.help, labelNames: g.labels, registers: [registry] })]),
  );
  const stamp = new Gauge({
    name: "flightctl_metrics_snapshot_timestamp_seconds",
    help: "When the fleet-wide gauges served were computed (Unix time): old means no replica could compute them.",
    registers: [registry],
  });
  // A snapshot younger than this is left alone: replicas tick at different moments, and a tick a little early must
  // not recompute what another replica just wrote.
  const minAgeMs = opts.intervalMs * 0.8;
  let inFlight: Promise<boolean> | undefined;
  const tick = () =>
    (inFlight ??= store
      .computeIfDue(minAgeMs, (tx) => computeFleetSamples(tx, opts))
      .catch((err) => {
        opts.log.warn({ err }, "could not compute the fleet-wide metrics");
        return false;
      })
      .finally(() => (inFlight = undefined)));
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();
  tick();

  let shown: { at: number; snapshot: Snapshot | undefined } | undefined;
  const show = (snapshot: Snapshot | undefined) => {
    for (const g of gauges.values()) g.reset();
    stamp.reset();
    if (!snapshot) return;
    for (const s of snapshot.samples) gauges.get(s.name)?.set(s.labels, s.value);
    stamp.set(snapshot.computedAt.getTime() / 1000);
  };
  let reading: Promise<void> | undefined;
  return {
    async text() {
      if (!shown || performance.now() - shown.at >= READ_CACHE_MS) {
        reading ??= store
          .read()
          .then(
            (snapshot) => {
              shown = { at: performance.now(), snapshot };
              show(snapshot);
            },
            // The database is away: the last snapshot read stays (its timestamp tells how old it is).
            (err) => opts.log.warn({ err }, "could not read the fleet-wide metrics"),
          )
          .finally(() => (reading = undefined));
        await reading;
      }
      return shown?.snapshot ? registry.metrics() : "";
    },
    tick,
    async close() {
      clearInterval(timer);
      await inFlight;
      await reading;
    },
  };
}
