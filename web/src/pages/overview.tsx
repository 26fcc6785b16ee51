// Overview: device counts by summary, update and application status, fleets with their rollout state, and the
// enrollment requests waiting for a decision.
import { DeviceService } from "../../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { EnrollmentRequestService } from "../../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { client } from "../api.js";
import { Counts, ErrorBox, Page, Section, useApp, useAsync, useInterval } from "../common.js";
import { Link } from "../router.js";
import { FleetRows } from "./fleets.js";
import { AlertBadge, useAlerts } from "../alerts.js";

export function OverviewPage() {
  const { orgId } = useApp();
  const summary = useAsync(
    () =>
      client(DeviceService)
        .listDevices({ orgId, summaryOnly: true })
        .then((l) => l.summary),
    [orgId],
  );
  const fleets = useAsync(() => client(FleetService).listFleets({ orgId, addDevicesSummary: true, options: { limit: 50 } }), [orgId]);
  const pending = useAsync(
    () => client(EnrollmentRequestService).listEnrollmentRequests({ orgId, options: { fieldSelector: "!status.certificate", limit: 100 } }),
    [orgId],
  );
  useInterval(() => {
    summary.reload();
    fleets.reload();
    pending.reload();
  }, 10_000);
  const alerts = useAlerts(orgId);
  const waiting = (pending.data?.items ?? []).filter(
    (er) => !er.status?.conditions?.some((c) => c.type === "Denied" && c.status === "True"),
  );
  return (
    <Page title="Overview">
      <ErrorBox error={summary.error ?? fleets.error ?? pending.error} />
      <Section title={`Devices (${summary.data?.total ?? 0})`}>
        <div class="count-grid">
          <Counts title="Status" counts={summary.data?.summaryStatus} />
          <Counts title="Update status" counts={summary.data?.updateStatus} />
          <Counts title="Application status" counts={summary.data?.applicationStatus} />
        </div>
      </Section>
      <Section title="Alerts">
        <ErrorBox error={alerts.error} />
        {alerts.unconfigured ? (
          <p class="muted">Alerts are not configured on this service.</p>
        ) : (
          <p id="overview-alerts">
            <AlertBadge count={alerts.alerts?.length ?? 0} href="/alerts" />{" "}
            {alerts.alerts?.length ? `firing alert${alerts.alerts.length === 1 ? "" : "s"}` : "No alerts are firing."}{" "}
            <Link href="/alerts">Show alerts</Link>
          </p>
        )}
      </Section>
      <Section title="Fleets">
        <FleetRows fleets={fleets.data?.items ?? []} />
      </Section>
      <Section title={`Pending enrollment requests (${waiting.length})`}>
        {waiting.length ? (
          <ul>
            {waiting.slice(0, 10).map((er) => (
              <li key={er.metadata?.name} class="mono">
                {er.metadata?.name}
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">None waiting.</p>
        )}
        <Link href="/enrollmentrequests">Review enrollment requests</Link>
      </Section>
    </Page>
  );
}
