// Fleets: the list with rollout state and device counts, and one fleet's selector, template, rollout policy, batch
// progress, device summary and template versions.
import { useEffect } from "preact/hooks";
import { toJson } from "@bufbuild/protobuf";
import { FleetService } from "../../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema, type Fleet } from "../../../gen/flightctl/v1beta1/fleet_pb.js";
import { TemplateVersionService } from "../../../gen/flightctl/v1beta1/templateversion_service_pb.js";
import { client } from "../api.js";
import { Badge, Conditions, Counts, ErrorBox, Labels, Page, Section, time, useApp, useAsync, GridHead } from "../common.js";
import { FleetChart } from "../charts.js";
import { live } from "../live.js";
import { DeleteButton } from "../delete-button.js";
import { Link, navigate } from "../router.js";
import { YamlView } from "../yaml-view.js";

const rolloutState = (f: Fleet) => {
  const c = f.status?.conditions?.find((x) => x.type === "RolloutInProgress");
  return c ? (c.status === "True" ? c.reason || "Rolling out" : c.reason || "Idle") : "–";
};

export function FleetRows({ fleets }: { fleets: Fleet[] }) {
  if (!fleets.length) return <p class="muted">No fleets.</p>;
  return (
    <div class="table-wrap">
      <table class="grid" id="fleets-table">
        <GridHead cols={["Name", "Selector", "Devices", "Up to date", "Rollout", "Valid"]} />
        <tbody>
          {fleets.map((f) => {
            const sum = f.status?.devicesSummary;
            return (
              <tr key={f.metadata?.name}>
                <td>
                  <Link href={`/fleets/${f.metadata?.name}`}>{f.metadata?.name}</Link>
                </td>
                <td>
                  <Labels labels={f.spec?.selector?.matchLabels} />
                </td>
                <td>{sum?.total ?? "–"}</td>
                <td>{sum?.updateStatus?.UpToDate ?? 0}</td>
                <td>{rolloutState(f)}</td>
                <td>
                  <Badge value={f.status?.conditions?.find((c) => c.type === "Valid")?.status} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function FleetsPage() {
  const { orgId, can } = useApp();
  const fleets = useAsync(() => client(FleetService).listFleets({ orgId, addDevicesSummary: true }), [orgId]);
  useEffect(
    () => live<Fleet>({ service: FleetService, method: "watchFleets", request: { orgId }, onEvent: fleets.reload, poll: fleets.reload }),
    [orgId],
  );
  return (
    <Page
      title="Fleets"
      actions={
        can("fleets", "create") ? (
          <Link href="/create/Fleet" class="button">
            Create fleet
          </Link>
        ) : null
      }
    >
      <ErrorBox error={fleets.error} />
      <FleetRows fleets={fleets.data?.items ?? []} />
    </Page>
  );
}

export function FleetDetailPage({ name }: { name: string }) {
  const { orgId, can } = useApp();
  const fleet = useAsync(() => client(FleetService).getFleet({ orgId, name, addDevicesSummary: true }), [orgId, name]);
  const tvs = useAsync(
    () => client(TemplateVersionService).listTemplateVersions({ orgId, fleet: name, options: { limit: 20 } }),
    [orgId, name],
  );
  useEffect(
    () =>
      live<Fleet>({
        service: FleetService,
        method: "watchFleets",
        request: { orgId, fieldSelector: `metadata.name=${name}` },
        onEvent: () => fleet.reload(),
        poll: () => {
          fleet.reload();
          tvs.reload();
        },
      }),
    [orgId, name],
  );
  const f = fleet.data;
  const json = f ? (toJson(FleetSchema, f) as { spec?: { template?: unknown; rolloutPolicy?: unknown } }) : undefined;
  const batches = f?.spec?.rolloutPolicy?.deviceSelection?.sequence ?? [];
  const current = f?.status?.rollout?.currentBatch;
  return (
    <Page
      title={`Fleet ${name}`}
      actions={
        <>
          {can("fleets", "update") ? (
            <Link href={`/edit/Fleet/${name}`} class="button">
              Edit YAML
            </Link>
          ) : null}
          <DeleteButton kind="Fleet" name={name} onDone={() => navigate("/fleets", true)} />
        </>
      }
    >
      <ErrorBox error={fleet.error ?? tvs.error} />
      {f ? (
        <div class="cards">
          <Section title="Summary">
            <dl class="kv">
              <dt>Selector</dt>
              <dd>
                <Labels labels={f.spec?.selector?.matchLabels} />
              </dd>
              <dt>Template version</dt>
              <dd>{f.metadata?.annotations?.["fleet-controller/templateVersion"] ?? "–"}</dd>
              <dt>Rollout</dt>
              <dd>{rolloutState(f)}</dd>
              <dt>Devices</dt>
              <dd>{f.status?.devicesSummary?.total ?? 0}</dd>
            </dl>
          </Section>
          <Section title="Device summary">
            <div class="count-grid">
              <Counts title="Status" counts={f.status?.devicesSummary?.summaryStatus} />
              <Counts title="Update status" counts={f.status?.devicesSummary?.updateStatus} />
              <Counts title="Application status" counts={f.status?.devicesSummary?.applicationStatus} />
            </div>
          </Section>
          <FleetChart name={name} />
          <Section title="Rollout policy and batches">
            {batches.length ? (
              <ol class="batches" aria-label="Batches">
                {batches.map((b, i) => (
                  <li
                    key={i}
                    aria-current={current === i ? "step" : undefined}
                    class={current !== undefined && i < current ? "done" : current === i ? "current" : ""}
                  >
                    Batch {i + 1}:{" "}
                    {b.selector?.matchLabels
                      ? Object.entries(b.selector.matchLabels)
                          .map(([k, v]) => `${k}=${v}`)
                          .join(", ")
                      : "all"}
                    {b.limit ? ` (limit ${JSON.stringify(toJsonValue(b.limit))})` : ""}
                  </li>
                ))}
              </ol>
            ) : (
              <p class="muted">No batch sequence: every selected device updates at once.</p>
            )}
            <YamlView label="Rollout policy" value={json?.spec?.rolloutPolicy ?? {}} />
          </Section>
          <Section title="Conditions">
            <Conditions list={f.status?.conditions} />
          </Section>
          <Section title="Template">
            <YamlView label="Fleet template" value={json?.spec?.template ?? {}} />
          </Section>
          <Section title="Template versions">
            <ul>
              {(tvs.data?.items ?? []).map((tv) => (
                <li key={tv.metadata?.name}>
                  <span class="mono">{tv.metadata?.name}</span> · {time(tv.metadata?.creationTimestamp)}
                </li>
              ))}
            </ul>
          </Section>
        </div>
      ) : null}
    </Page>
  );
}

/** A google.protobuf.Value as plain JSON. */
function toJsonValue(v: { kind: { case?: string; value?: unknown } }): unknown {
  return v.kind.value;
}
