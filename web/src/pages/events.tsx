// Events, newest first: the page (with a kind/name filter) and the table reused on detail pages.
import { useState } from "preact/hooks";
import { EventService } from "../../../gen/flightctl/v1beta1/event_service_pb.js";
import { client } from "../api.js";
import { Badge, ErrorBox, Page, time, useApp, useAsync, useInterval, GridHead } from "../common.js";

export function EventsTable({ fieldSelector, limit = 100 }: { fieldSelector?: string; limit?: number }) {
  const { orgId } = useApp();
  const events = useAsync(
    () => client(EventService).listEvents({ orgId, options: { fieldSelector: fieldSelector ?? "", limit } }),
    [orgId, fieldSelector, limit],
  );
  // Events have no watch in every deployment: refresh every 5 s.
  useInterval(events.reload, 5000);
  const items = events.data?.items ?? [];
  return (
    <>
      <ErrorBox error={events.error} />
      <div class="table-wrap">
        <table class="grid events">
          <GridHead cols={["Time", "Type", "Object", "Reason", "Message"]} />
          <tbody>
            {items.map((e) => (
              <tr key={e.metadata?.name}>
                <td>{time(e.metadata?.creationTimestamp)}</td>
                <td>
                  <Badge value={e.type === "Warning" ? "Degraded" : undefined} /> {e.type}
                </td>
                <td>
                  {e.involvedObject?.kind}/{e.involvedObject?.name}
                </td>
                <td>{e.reason}</td>
                <td>{e.message}</td>
              </tr>
            ))}
            {!items.length && !events.loading ? (
              <tr>
                <td colSpan={5} class="muted">
                  No events.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
    </>
  );
}

export function EventsPage() {
  const [kind, setKind] = useState("");
  const [name, setName] = useState("");
  const selector = [kind && `involvedObject.kind=${kind}`, name && `involvedObject.name=${name}`].filter(Boolean).join(",");
  return (
    <Page title="Events">
      {/* biome-ignore lint/a11y/useSemanticElements: preact's JSX has no <search> element; role=search is its ARIA equivalent */}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">Any</option>
            {["Device", "Fleet", "EnrollmentRequest", "Repository", "ResourceSync", "TemplateVersion", "CertificateSigningRequest"].map(
              (k) => (
                <option key={k}>{k}</option>
              ),
            )}
          </select>
        </label>
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.currentTarget.value)} />
        </label>
      </form>
      <EventsTable fieldSelector={selector} />
    </Page>
  );
}
