// Figures of one process (an API replica, a worker): its database pools and, for the API, the device streams it
// holds. Each series carries `replica`, so a sum over replicas is the service's total and one replica can be told
// from another behind a load balancer. Read when scraped, nothing kept.
import { hostname } from "node:os";
import type { Pool } from "pg";
import { Gauge, type Registry } from "prom-client";

export interface ReplicaMetricsOptions {
  replica: string;
  /** The process's pools by name (the `pool` label, as its log lines name it: "api", "worker"). */
  pools: Record<string, Pool>;
  /** Devices with an open rendered-device stream on this replica (the API only). */
  deviceStreams?: () => number;
}

/** The replica name when none is configured: the host and what tells processes on one host apart. */
export const defaultReplica = (distinct: string | number) => `${hostname()}:${distinct}`;

/** Registers the gauges of one process in `registry`. */
export function registerReplicaMetrics(registry: Registry, opts: ReplicaMetricsOptions): void {
  const pools = Object.entries(opts.pools);
  const poolGauge = (name: string, help: string, value: (p: Pool) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["replica", "pool"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [pool, p] of pools) this.set({ replica: opts.replica, pool }, value(p));
      },
    });
  // Named after flightctl's gorm_dbstats_* gauges (open_connections, in_use, idle, max_open_connections).
  poolGauge("flightctl_db_pool_open_connections", "Connections the pool holds open (in use and idle).", (p) => p.totalCount);
  poolGauge("flightctl_db_pool_in_use", "Connections checked out of the pool.", (p) => p.totalCount - p.idleCount);
  poolGauge("flightctl_db_pool_idle", "Idle connections in the pool.", (p) => p.idleCount);
  poolGauge("flightctl_db_pool_waiting", "Callers waiting for a connection (the pool is at its maximum).", (p) => p.waitingCount);
  poolGauge("flightctl_db_pool_max_open_connections", "The pool's maximum number of connections.", (p) => p.options.max ?? 10);
  const streams = opts.deviceStreams;
  if (streams) {
    new Gauge({
      name: "flightctl_api_device_streams",
      help: "Devices with an open rendered-device stream (agents waiting for new specs) on this replica.",
      labelNames: ["replica"],
      registers: [registry],
      collect() {
        this.set({ replica: opts.replica }, streams());
      },
    });
  }
}
