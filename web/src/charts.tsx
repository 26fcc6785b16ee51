// Small time-series charts read through MetricsService (the server queries Prometheus, scoped to this organization
// and resource): a device's CPU, memory and disk over the last hour, a fleet's device counts by status. One plain
// SVG line chart, no charting library. Without a Prometheus configured the API says FailedPrecondition, shown as a
// note, since that is a deployment choice rather than a failure.
import { Code, ConnectError } from "@connectrpc/connect";
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import type { MetricSeries, MetricSeriesList } from "../../gen/flightctl/v1beta1/metrics_service_pb.js";
import { MetricsService } from "../../gen/flightctl/v1beta1/metrics_service_pb.js";
import { client } from "./api.js";
import { ErrorBox, Section, useApp, useInterval, useRetryAfterError } from "./common.js";

const REFRESH_MS = 60_000;
const COLORS = ["#0b57d0", "#0d6b2f", "#a1141c", "#7a4b00", "#6b2fa1", "#555d66"];
const W = 300;
const H = 80;

/** An SVG path through `xy`; a lone point (a series that just started) gets a short stub so that it shows. */
function line(xy: [number, number][]): string {
  const pts = xy.length === 1 ? [[Math.max(0, xy[0][0] - 4), xy[0][1]], xy[0]] : xy;
  return pts.map(([px, py], j) => `${j ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join("");
}

/** One line chart: `series` over [start, end], y from 0 to `max` (or the data's maximum). */
export function LineChart(props: {
  label: string;
  series: MetricSeries[];
  start: number;
  end: number;
  max?: number;
  format(v: number): string;
}) {
  const { series, start, end } = props;
  const values = series.flatMap((s) => s.points.map((p) => p.value));
  const max = props.max ?? Math.max(1, ...values);
  const x = (t: number) => ((t - start) / Math.max(1, end - start)) * W;
  const y = (v: number) => H - (Math.min(Math.max(v, 0), max) / max) * H;
  const last = (s: MetricSeries) => s.points.at(-1)?.value;
  return (
    <figure class="chart">
      <figcaption>
        {props.label}
        {series.map((s, i) => (
          <span key={s.name} class="chart-key" style={{ color: COLORS[i % COLORS.length] }}>
            {series.length > 1 ? `${s.name} ` : ""}
            {last(s) === undefined ? "no data" : props.format(last(s)!)}
          </span>
        ))}
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={props.label}>
        <line x1="0" y1={H} x2={W} y2={H} class="chart-axis" />
        {series.map((s, i) =>
          s.points.length ? (
            <path
              key={s.name}
              d={line(s.points.map((p) => [x(Number(p.timeSeconds)), y(p.value)]))}
              fill="none"
              stroke={COLORS[i % COLORS.length]}
              stroke-width="1.5"
              vector-effect="non-scaling-stroke"
            />
          ) : null,
        )}
      </svg>
    </figure>
  );
}

/** Loads `fetch` now and every minute (5 s after a failure); `unconfigured` when the API has no Prometheus to read. */
function useMetrics(fetch: () => Promise<MetricSeriesList>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: MetricSeriesList; error?: string; unconfigured?: boolean }>({});
  const load = useCallback(() => {
    fetch().then(
      (data) => setState({ data }),
      (e) => {
        const err = ConnectError.from(e);
        setState(err.code === Code.FailedPrecondition ? { unconfigured: true } : { error: err.rawMessage });
      },
    );
  }, deps);
  useEffect(load, [load]);
  useInterval(load, REFRESH_MS);
  useRetryAfterError(state.error, load);
  return state;
}

function MetricsCard(props: { title: string; state: ReturnType<typeof useMetrics>; children(d: MetricSeriesList): ComponentChildren }) {
  const { data, error, unconfigured } = props.state;
  return (
    <Section title={props.title}>
      {unconfigured ? <p class="muted">Metrics are not configured on this service (FLIGHTCTL_PROMETHEUS_URL).</p> : null}
      <ErrorBox error={error} />
      {data ? props.children(data) : null}
    </Section>
  );
}

const percent = (v: number) => `${Math.round(v * 100)}%`;

/** A device's CPU, memory and disk utilisation over the last hour. */
export function DeviceCharts({ name }: { name: string }) {
  const { orgId } = useApp();
  const state = useMetrics(() => client(MetricsService).getDeviceMetrics({ orgId, name }), [orgId, name]);
  const labels: Record<string, string> = { cpu: "CPU", memory: "Memory", disk: "Disk (fullest filesystem)" };
  return (
    <MetricsCard title="Utilisation, last hour" state={state}>
      {(d) => (
        <div class="charts" id="device-charts">
          {d.series.map((s) => (
            <LineChart
              key={s.name}
              label={labels[s.name] ?? s.name}
              series={[s]}
              start={Number(d.startSeconds)}
              end={Number(d.endSeconds)}
              max={1}
              format={percent}
            />
          ))}
        </div>
      )}
    </MetricsCard>
  );
}

/** A fleet's device counts by status over the last hour. */
export function FleetChart({ name }: { name: string }) {
  const { orgId } = useApp();
  const state = useMetrics(() => client(MetricsService).getFleetMetrics({ orgId, name }), [orgId, name]);
  return (
    <MetricsCard title="Devices by status, last hour" state={state}>
      {(d) =>
        d.series.length ? (
          <div class="charts" id="fleet-chart">
            <LineChart label="Devices" series={d.series} start={Number(d.startSeconds)} end={Number(d.endSeconds)} format={String} />
          </div>
        ) : (
          <p class="muted">No device counts recorded for this fleet in the last hour.</p>
        )
      }
    </MetricsCard>
  );
}
