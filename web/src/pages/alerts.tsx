// Alerts: the organization's firing alerts grouped by fleet, then by the device (or the fleet itself) they are about,
// each with its rule, its summary and the event that raised it.
import type { Alert } from "../../../gen/flightctl/v1beta1/alert_service_pb.js";
import { useAlerts } from "../alerts.js";
import { ago, Badge, ErrorBox, Page, Section, useApp } from "../common.js";
import { Link } from "../router.js";

const NO_FLEET = "";

/** alerts grouped by fleet, then by kind/resource, both in name order (devices without a fleet last). */
function grouped(alerts: Alert[]): [string, [string, Alert[]][]][] {
  const fleets = new Map<string, Map<string, Alert[]>>();
  for (const a of alerts) {
    const byResource = fleets.get(a.fleet) ?? fleets.set(a.fleet, new Map()).get(a.fleet)!;
    const key = `${a.kind}/${a.resource}`;
    byResource.set(key, [...(byResource.get(key) ?? []), a]);
  }
  const order = (x: string, y: string) => (x === NO_FLEET ? 1 : y === NO_FLEET ? -1 : x.localeCompare(y));
  return [...fleets.entries()]
    .sort(([x], [y]) => order(x, y))
    .map(([f, m]) => [f, [...m.entries()].sort(([x], [y]) => x.localeCompare(y))]);
}

function ResourceAlerts({ resource, alerts }: { resource: string; alerts: Alert[] }) {
  const [kind, name] = [resource.slice(0, resource.indexOf("/")), resource.slice(resource.indexOf("/") + 1)];
  const href = kind === "Fleet" ? `/fleets/${encodeURIComponent(name)}` : `/devices/${encodeURIComponent(name)}`;
  return (
    <article class="alert-resource" data-resource={resource}>
      <h3>
        <Link href={href}>{name}</Link> <span class="muted">{kind === "Fleet" ? "fleet" : "device"}</span>
      </h3>
      <table class="grid">
        <thead>
          <tr>
            <th scope="col">Alert</th>
            <th scope="col">Summary</th>
            <th scope="col">Raised by event</th>
            <th scope="col">Since</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {alerts.map((a) => (
            <tr key={a.fingerprint} data-alertname={a.alertname}>
              <td>
                <Badge value="Warning" /> {a.alertname}
              </td>
              <td class="summary">{a.summary}</td>
              <td class="event mono">{a.event || "–"}</td>
              <td>
                <time dateTime={a.startsAt} title={new Date(a.startsAt).toLocaleString()}>
                  {ago(Date.parse(a.startsAt))}
                </time>
              </td>
              <td>{a.state === "suppressed" ? "silenced" : a.state}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </article>
  );
}

export function AlertsPage() {
  const { orgId } = useApp();
  const { alerts, error, unconfigured } = useAlerts(orgId);
  const groups = grouped(alerts ?? []);
  return (
    <Page title="Alerts">
      <ErrorBox error={error} />
      {unconfigured ? <p class="muted">Alerts are not configured on this service (FLIGHTCTL_ALERTMANAGER_URL).</p> : null}
      {alerts ? (
        <p class="muted" aria-live="polite">
          {alerts.length} firing alert{alerts.length === 1 ? "" : "s"}
        </p>
      ) : null}
      {alerts && !alerts.length ? <p class="muted">No alerts are firing.</p> : null}
      {groups.map(([fleet, resources]) => (
        <div class="alert-fleet" data-fleet={fleet} key={fleet}>
          <Section title={fleet === NO_FLEET ? "Devices without a fleet" : `Fleet ${fleet}`}>
            {resources.map(([r, list]) => (
              <ResourceAlerts key={r} resource={r} alerts={list} />
            ))}
          </Section>
        </div>
      ))}
    </Page>
  );
}
