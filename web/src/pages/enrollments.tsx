// Enrollment requests: approve (with labels for the new device) or deny; decided ones are listed below.
import { useState } from "preact/hooks";
import { EnrollmentRequestService } from "../../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import type { EnrollmentRequest } from "../../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import { client, errorText } from "../api.js";
import { Badge, ErrorBox, Labels, Page, parseLabels, time, useApp, useAsync, useInterval, GridHead } from "../common.js";

const decision = (er: EnrollmentRequest) =>
  er.status?.approval?.approved
    ? "Approved"
    : er.status?.conditions?.some((c) => c.type === "Denied" && c.status === "True")
      ? "Denied"
      : "Pending";

export function EnrollmentsPage() {
  const { orgId, can } = useApp();
  const list = useAsync(() => client(EnrollmentRequestService).listEnrollmentRequests({ orgId }), [orgId]);
  useInterval(list.reload, 3000);
  const mayDecide = can("enrollmentrequests/approval", "update");
  const items = list.data?.items ?? [];
  const pending = items.filter((er) => decision(er) === "Pending");
  const decided = items.filter((er) => decision(er) !== "Pending");
  return (
    <Page title="Enrollment requests">
      <ErrorBox error={list.error} />
      <h2>Pending ({pending.length})</h2>
      {pending.length ? (
        <ul class="er-list">
          {pending.map((er) => (
            <PendingRequest key={er.metadata?.name} er={er} mayDecide={mayDecide} onDone={list.reload} />
          ))}
        </ul>
      ) : (
        <p class="muted">No request is waiting.</p>
      )}
      <h2>Decided</h2>
      <div class="table-wrap">
        <table class="grid">
          <GridHead cols={["Name", "Decision", "By", "Labels"]} />
          <tbody>
            {decided.map((er) => (
              <tr key={er.metadata?.name}>
                <td class="mono">{er.metadata?.name}</td>
                <td>
                  <Badge value={decision(er)} />
                </td>
                <td>{er.status?.approval?.approvedBy ?? "–"}</td>
                <td>
                  <Labels labels={er.status?.approval?.labels} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Page>
  );
}

function PendingRequest({ er, mayDecide, onDone }: { er: EnrollmentRequest; mayDecide: boolean; onDone(): void }) {
  const { orgId } = useApp();
  const name = er.metadata?.name ?? "";
  const [labels, setLabels] = useState("");
  const [error, setError] = useState<string>();
  const decide = async (approved: boolean) => {
    try {
      await client(EnrollmentRequestService).approveEnrollmentRequest({
        orgId,
        name,
        approval: { approved, labels: approved ? parseLabels(labels) : {} },
      });
      onDone();
    } catch (e) {
      setError(errorText(e));
    }
  };
  const id = `er-${name}`;
  return (
    <li class="card" aria-labelledby={id} data-name={name}>
      <h3 id={id} class="mono">
        {name}
      </h3>
      <p class="muted">
        Requested {time(er.metadata?.creationTimestamp)} · agent labels: <Labels labels={er.spec?.labels} />
      </p>
      {mayDecide ? (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void decide(true);
          }}
        >
          <label>
            Labels for the device (key=value, comma separated)
            <input name="labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} />
          </label>
          <button type="submit">Approve</button>
          <button type="button" class="danger" onClick={() => void decide(false)}>
            Deny
          </button>
        </form>
      ) : null}
      <ErrorBox error={error} />
    </li>
  );
}
