// Enrollment requests: approve (with labels for the new device) or deny, each after a confirmation; decided ones are
// listed below. Deleting a request (either list) is there for roles that may delete.
import { useState } from "preact/hooks";
import { EnrollmentRequestService } from "../../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import type { EnrollmentRequest } from "../../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import { client } from "../api.js";
import { Badge, ErrorBox, GridHead, Labels, labelsText, Page, parseLabels, time, useApp, useAsync, useInterval } from "../common.js";
import { Confirm } from "../confirm.js";
import { DeleteButton } from "../delete-button.js";

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
  const mayDelete = can("enrollmentrequests", "delete");
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
          <GridHead cols={["Name", "Decision", "By", "Labels", ...(mayDelete ? ["Actions"] : [])]} />
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
                {mayDelete ? (
                  <td>
                    <DeleteButton kind="EnrollmentRequest" name={er.metadata?.name ?? ""} onDone={list.reload} />
                  </td>
                ) : null}
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
  // The decision waiting for confirmation, if any.
  const [asking, setAsking] = useState<"approve" | "deny">();
  const decide = (approved: boolean) =>
    client(EnrollmentRequestService).approveEnrollmentRequest({
      orgId,
      name,
      approval: { approved, labels: approved ? parseLabels(labels) : {} },
    });
  const id = `er-${name}`;
  const chosen = labelsText(parseLabels(labels));
  return (
    <li class="card" aria-labelledby={id} data-name={name}>
      <h3 id={id} class="mono">
        {name}
      </h3>
      <p class="muted">
        Requested {time(er.metadata?.creationTimestamp)} · agent labels: <Labels labels={er.spec?.labels} />
      </p>
      <div class="inline-form">
        {mayDecide ? (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              setAsking("approve");
            }}
          >
            <label>
              Labels for the device (key=value, comma separated)
              <input name="labels" value={labels} onInput={(e) => setLabels(e.currentTarget.value)} />
            </label>
            <button type="submit">Approve</button>
            <button type="button" class="danger" onClick={() => setAsking("deny")}>
              Deny
            </button>
          </form>
        ) : null}
        <DeleteButton kind="EnrollmentRequest" name={name} onDone={onDone} />
      </div>
      <Confirm
        open={asking === "approve"}
        title={`Approve enrollment request ${name}?`}
        confirmLabel="Approve"
        run={() => decide(true)}
        onClose={() => setAsking(undefined)}
        onDone={onDone}
      >
        <p>
          The device <strong class="mono">{name}</strong> is enrolled and receives a certificate to talk to the service.
        </p>
        <p>{chosen ? `Labels added to the ones its agent asked for: ${chosen}` : "It gets only the labels its agent asked for."}</p>
      </Confirm>
      <Confirm
        open={asking === "deny"}
        title={`Deny enrollment request ${name}?`}
        confirmLabel="Deny"
        danger
        run={() => decide(false)}
        onClose={() => setAsking(undefined)}
        onDone={onDone}
      >
        <p>
          The device <strong class="mono">{name}</strong> is refused: it gets no certificate and cannot join. A denied request cannot be
          approved later; delete it to let the device ask again.
        </p>
      </Confirm>
    </li>
  );
}
