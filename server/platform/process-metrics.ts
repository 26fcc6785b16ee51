// The process metrics every server process exports (prom-client's defaults: CPU, memory, GC, handles, event-loop lag).
// prom-client samples the event-loop delay with a timer every 10 ms by default: 100 wake-ups a second of an otherwise
// idle process, ≈ 0.4 % of a core each (measured apart: 4.3 against 0.04 ms of CPU per second, Node 20), a tenth of
// an API's idle CPU at 10,000 streams. Every 100 ms (0.5 ms per second) still shows any stall of the loop that
// matters (the lag histogram records how late each sample ran).
import { collectDefaultMetrics, type Registry } from "prom-client";

/** Event-loop delay sampling period of the process metrics (ms). */
export const EVENT_LOOP_SAMPLE_MS = 100;

export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
}
