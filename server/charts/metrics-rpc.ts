// MetricsService: a device's utilisation and a fleet's device counts over time, read from Prometheus for the web UI's
// charts. The RBAC check is the proto's (devices/get, fleets/get); the resource must exist in the caller's
// organization, and the queries (chart-metrics.ts) match only that organization and that name.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { MetricSeriesListSchema, MetricsService, type MetricsRange } from "../../gen/flightctl/v1beta1/metrics_service_pb.js";
import type { ServiceDeps } from "../app-deps.js";
import { invalid, precondition } from "../platform/errors.js";
import { callerOf } from "../platform/identity.js";
import { deviceQueries, fleetQuery, SUMMARY_STATUS_LABEL } from "./chart-metrics.js";
import { createPrometheusClient, type PrometheusClient } from "./prometheus-client.js";

const HOUR = 3600;
const DEFAULT_STEPS = 60;
/** Prometheus refuses more than 11,000 points per series. */
const MAX_POINTS = 11_000;

/** The range a request asks for, defaults filled in and checked. */
export function resolveRange(r: MetricsRange | undefined, nowSeconds: number): { start: number; end: number; step: number } {
  const end = Number(r?.endSeconds || nowSeconds);
  const start = Number(r?.startSeconds || end - HOUR);
  if (end <= 0) throw invalid({ field: "range.endSeconds", message: `must be a Unix time in seconds, got ${end}` });
  if (start <= 0) throw invalid({ field: "range.startSeconds", message: `must be a Unix time in seconds, got ${start}` });
  if (start >= end) throw invalid({ field: "range.startSeconds", message: `must be before the end (${end}), got ${start}` });
  const stepGiven = r?.stepSeconds ?? 0;
  if (stepGiven < 0 || stepGiven > 86_400) throw invalid({ field: "range.stepSeconds", message: `must be 0-86400, got ${stepGiven}` });
  const step = stepGiven || Math.max(1, Math.ceil((end - start) / DEFAULT_STEPS));
  if ((end - start) / step > MAX_POINTS) {
    throw invalid({ field: "range.stepSeconds", message: `gives more than ${MAX_POINTS} points over the range; use a larger step` });
  }
  return { start, end, step };
}

const requireName = (name: string) => {
  if (!name) throw invalid({ field: "name", message: "is required" });
};

export const metricsServiceRegistration = {
  service: MetricsService,
  register(router: ConnectRouter, deps: ServiceDeps) {
    const prometheus: PrometheusClient | undefined = deps.prometheusUrl ? createPrometheusClient(deps.prometheusUrl) : undefined;
    const configured = (): PrometheusClient => {
      if (!prometheus) throw precondition("metrics are not configured (FLIGHTCTL_PROMETHEUS_URL is not set)");
      return prometheus;
    };
    type Series = NonNullable<MessageInitShape<typeof MetricSeriesListSchema>["series"]>;
    const answer = (range: { start: number; end: number; step: number }, series: Series) =>
      create(MetricSeriesListSchema, { startSeconds: BigInt(range.start), endSeconds: BigInt(range.end), stepSeconds: range.step, series });
    const points = (ps: { t: number; v: number }[]) => ps.map((p) => ({ timeSeconds: BigInt(Math.round(p.t)), value: p.v }));

    router.service(MetricsService, {
      async getDeviceMetrics(req, ctx) {
        requireName(req.name);
        const caller = callerOf(ctx);
        const range = resolveRange(req.range, Math.floor(Date.now() / 1000));
        const prom = configured();
        await deps.services.Device.get(caller, req.name); // NotFound first, as every device read
        const series = await Promise.all(
          deviceQueries(caller.orgId, req.name).map(async (q) => {
            const [first] = await prom.queryRange(q.query, range); // each query aggregates to one series
            return { name: q.name, unit: q.unit, points: points(first?.points ?? []) };
          }),
        );
        return answer(range, series);
      },
      async getFleetMetrics(req, ctx) {
        requireName(req.name);
        const caller = callerOf(ctx);
        const range = resolveRange(req.range, Math.floor(Date.now() / 1000));
        const prom = configured();
        await deps.services.Fleet.get(caller, req.name);
        const rows = await prom.queryRange(fleetQuery(caller.orgId, req.name), range);
        const series = rows
          .map((r) => ({
            name: r.metric[SUMMARY_STATUS_LABEL] ?? "",
            unit: "devices",
            points: points(r.points),
          }))
          .sort((a, b) => a.name.localeCompare(b.name));
        return answer(range, series);
      },
    });
  },
};
