// Devices: a paged table (100 a page, continue tokens) filtered by label and field selectors, kept live by a watch
// on the rows shown (metadata.name in (...)) so 10,000 devices cost one page, not a stream of all of them. The total
// comes with the page (remainingItemCount), not from a second query; the first page of a first load is asked for
// while the app starts (early.ts).
import { useEffect, useMemo, useState } from "preact/hooks";
import { DeviceService } from "../../../gen/flightctl/v1beta1/device_service_pb.js";
import type { Device } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { client } from "../api.js";
import { Ago, Badge, ErrorBox, Labels, Page, useApp, useAsync, useInterval, GridHead } from "../common.js";
import { early, startEarly } from "../early.js";
import { live } from "../live.js";
import { Link, navigate, useLocation } from "../router.js";
import { AlertBadge, countByDevice, useAlerts } from "../alerts.js";
import { ResumeBySelector } from "./device-actions.js";

/** The status shown for a device: its summary, except while it is being or has been decommissioned (no summary value says so). */
function systemStatus(d: Device): string | undefined {
  const lifecycle = d.status?.lifecycle?.status;
  return lifecycle === "Decommissioning" || lifecycle === "Decommissioned" ? lifecycle : d.status?.summary?.status;
}

const PAGE = 100;

/**
 * `next` (a device from a watch event) with `prev`'s status.lastSeen when it has none: the API adds lastSeen on reads
 * (Get, List) but a watch event carries the stored device, which never holds it; lastSeen only moves forward.
 */
export function keepLastSeen(prev: Device | undefined, next: Device): Device {
  const seen = prev?.status?.lastSeen;
  if (!seen || !next.status || next.status.lastSeen) return next;
  return { ...next, status: { ...next.status, lastSeen: seen } };
}

/** lastSeen changes write no row, so no watch event tells of them: the page reads it again this often. */
export const LAST_SEEN_REFRESH_MS = 30_000;

/** The selectors of the devices page's URL (`?labels=…&fields=…`). */
function selectorsOf(url: URL) {
  return { labelSelector: url.searchParams.get("labels") ?? "", fieldSelector: url.searchParams.get("fields") ?? "" };
}

/** The ListDevices request of one page. */
const pageRequest = (orgId: string, url: URL, continueToken = "") => ({
  orgId,
  options: { ...selectorsOf(url), limit: PAGE, continueToken },
});
const listPage = (req: ReturnType<typeof pageRequest>) => client(DeviceService).listDevices(req);

/** Asks for the first page of `url` now (a first load of the devices page, before the app has rendered). */
export function startFirstPage(orgId: string, url: URL) {
  const req = pageRequest(orgId, url);
  startEarly(["listDevices", req], () => listPage(req));
}

export function DevicesPage() {
  const { orgId, can } = useApp();
  const url = useLocation();
  const { labelSelector, fieldSelector } = selectorsOf(url);
  const [tokens, setTokens] = useState<string[]>([""]); // continue token of each page visited
  const page = tokens.length - 1;
  useEffect(() => setTokens([""]), [labelSelector, fieldSelector, orgId]);

  const list = useAsync(() => {
    const req = pageRequest(orgId, url, tokens[page]);
    // The offset travels with the answer, so the counts shown always match the rows shown.
    return early(["listDevices", req], () => listPage(req)).then((l) => Object.assign(l, { offset: page * PAGE }));
  }, [orgId, labelSelector, fieldSelector, tokens[page]]);
  const rows = list.data?.items ?? [];
  const offset = list.data?.offset ?? 0;
  // The API counts the matches on a first page and says how many follow this one (none: this is the last page).
  const total = list.data ? offset + rows.length + (list.data.metadata?.remainingItemCount ?? 0) : undefined;
  const names = useMemo(() => rows.map((d) => d.metadata?.name ?? ""), [list.data]);

  useEffect(() => {
    if (!names.length) return;
    return live<Device>({
      service: DeviceService,
      method: "watchDevices",
      request: { orgId, labelSelector, fieldSelector: [fieldSelector, `metadata.name in (${names.join(",")})`].filter(Boolean).join(",") },
      onEvent(ev) {
        const name = ev.object?.metadata?.name;
        if (!name || (ev.type !== "MODIFIED" && ev.type !== "ADDED" && ev.type !== "DELETED")) return;
        list.update((l) => {
          const items =
            ev.type === "DELETED"
              ? l.items.filter((d) => d.metadata?.name !== name)
              : l.items.map((d) => (d.metadata?.name === name ? keepLastSeen(d, ev.object!) : d));
          return { ...l, items } as typeof l;
        });
      },
      poll: list.reload,
    });
  }, [names.join(","), orgId]);

  useInterval(list.reload, LAST_SEEN_REFRESH_MS);
  // Every device alert of the organization in one call (a page shows 100 devices; alerts are few), counted per row.
  const alertCounts = countByDevice(useAlerts(orgId, { kind: "Device" }).alerts);

  const [labelsDraft, setLabelsDraft] = useState(labelSelector);
  const [fieldsDraft, setFieldsDraft] = useState(fieldSelector);
  const more = !!list.data?.metadata?.continueToken;
  return (
    <Page
      title="Devices"
      actions={
        <>
          <ResumeBySelector labelSelector={labelSelector} fieldSelector={fieldSelector} onDone={list.reload} />{" "}
          {can("devices", "create") ? (
            <Link href="/new/Device" class="button">
              Create device
            </Link>
          ) : null}
        </>
      }
    >
      {/* biome-ignore lint/a11y/useSemanticElements: preact's JSX has no <search> element; role=search is its ARIA equivalent */}
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          const q = new URLSearchParams();
          if (labelsDraft) q.set("labels", labelsDraft);
          if (fieldsDraft) q.set("fields", fieldsDraft);
          navigate(`/devices${q.size ? `?${q}` : ""}`);
        }}
      >
        <label>
          Label selector
          <input
            name="labels"
            value={labelsDraft}
            onInput={(e) => setLabelsDraft(e.currentTarget.value)}
            placeholder="site=lab,tier in (edge)"
          />
        </label>
        <label>
          Field selector
          <input
            name="fields"
            value={fieldsDraft}
            onInput={(e) => setFieldsDraft(e.currentTarget.value)}
            placeholder="status.summary.status=Online"
          />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={list.error} />
      <p class="muted" aria-live="polite">
        {total !== undefined ? `${total} device${total === 1 ? "" : "s"}` : ""}
        {rows.length ? ` · showing ${offset + 1}–${offset + rows.length}` : ""}
      </p>
      <div class="table-wrap">
        <table class="grid" id="devices-table" aria-busy={list.loading}>
          <GridHead cols={["Name", "Status", "Updated", "Applications", "Fleet", "Labels", "Last seen"]} />
          <tbody>
            {rows.map((d) => (
              <tr key={d.metadata?.name} data-name={d.metadata?.name}>
                <td class="name">
                  <Link href={`/devices/${d.metadata?.name}`}>{d.metadata?.labels?.alias || d.metadata?.name}</Link>{" "}
                  <AlertBadge count={alertCounts.get(d.metadata?.name ?? "") ?? 0} href="/alerts" />
                </td>
                <td>
                  <Badge value={systemStatus(d)} />
                </td>
                <td class="updated">
                  <Badge value={d.status?.updated?.status} />
                </td>
                <td>
                  <Badge value={d.status?.applicationsSummary?.status} />
                </td>
                <td>{d.metadata?.owner?.replace(/^Fleet\//, "") ?? "–"}</td>
                <td>
                  <Labels labels={d.metadata?.labels} />
                </td>
                <td class="last-seen">
                  <Ago ts={d.status?.lastSeen} />
                </td>
              </tr>
            ))}
            {!rows.length && !list.loading ? (
              <tr>
                <td colSpan={7} class="muted">
                  No devices match.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={page === 0} onClick={() => setTokens(tokens.slice(0, -1))}>
          Previous
        </button>
        <span>Page {page + 1}</span>
        <button type="button" disabled={!more} onClick={() => setTokens([...tokens, list.data!.metadata!.continueToken!])}>
          Next
        </button>
      </nav>
    </Page>
  );
}
