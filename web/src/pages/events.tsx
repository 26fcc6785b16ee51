// Events, newest first: the page (with a kind/name filter, paged with the API's continue tokens) and the table reused
// on detail pages (there without the object column: every row would name the page's own object).
import { useEffect, useState } from "preact/hooks";
import { EventService } from "../../../gen/flightctl/v1beta1/event_service_pb.js";
import type { Event } from "../../../gen/flightctl/v1beta1/event_pb.js";
import { client } from "../api.js";
import { Badge, ErrorBox, GridHead, Page, shortTime, time, useApp, useAsync, useInterval } from "../common.js";
import { Link, useLocation } from "../router.js";

const ms = (e: Event) => {
  const t = e.metadata?.creationTimestamp;
  return t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 0;
};

/** "DeviceContentOutOfDate" with a line-break opportunity before each word, so a narrow column wraps between words. */
const camelBreaks = (s: string) => s.split(/(?=[A-Z][a-z])/).flatMap((w, i) => (i ? [<wbr key={i} />, w] : [w]));

const iso = (e: Event) => new Date(ms(e)).toISOString();

/**
 * Newest first by time; events of the same time keep the API's order (its insertion sequence, stable from one call to
 * the next), so rows never swap places between refreshes. The sort is stable, so no second key is needed.
 */
export const byTime = (items: Event[]) => [...items].sort((a, b) => ms(b) - ms(a));

export function EventsTable({
  fieldSelector,
  limit = 100,
  showObject = true,
  paged = false,
}: {
  fieldSelector?: string;
  limit?: number;
  /** Whether to show the involved object (off where the page is that object's). */
  showObject?: boolean;
  /** Previous/next pages through every event (else only the newest `limit`). */
  paged?: boolean;
}) {
  const { orgId } = useApp();
  const [tokens, setTokens] = useState<string[]>([""]); // continue token of each page visited
  const page = tokens.length - 1;
  useEffect(() => setTokens([""]), [orgId, fieldSelector, limit]);
  const events = useAsync(
    () =>
      client(EventService)
        .listEvents({ orgId, options: { fieldSelector: fieldSelector ?? "", limit, continueToken: tokens[page] } })
        .then((l) => Object.assign(l, { offset: page * limit })),
    [orgId, fieldSelector, limit, tokens[page]],
  );
  // Events have no watch in every deployment: refresh every 5 s.
  useInterval(events.reload, 5000);
  const items = byTime(events.data?.items ?? []);
  const offset = events.data?.offset ?? 0;
  const next = events.data?.metadata?.continueToken;
  const total = events.data ? offset + items.length + Number(events.data.metadata?.remainingItemCount ?? 0) : undefined;
  const cols = showObject ? ["Time", "Type", "Object", "Reason", "Message"] : ["Time", "Type", "Reason", "Message"];
  return (
    <>
      <ErrorBox error={events.error} />
      {paged ? (
        <p class="muted" aria-live="polite" id="events-count">
          {total !== undefined ? `${total} event${total === 1 ? "" : "s"}` : ""}
          {items.length ? ` · showing ${offset + 1}–${offset + items.length}` : ""}
        </p>
      ) : null}
      <div class="table-wrap">
        <table class={`grid events${showObject ? "" : " own"}`}>
          <GridHead cols={cols} />
          <tbody>
            {items.map((e) => (
              <tr key={e.metadata?.name} data-name={e.metadata?.name}>
                <td class="time">
                  <time dateTime={iso(e)} title={time(e.metadata?.creationTimestamp)}>
                    {shortTime(e.metadata?.creationTimestamp)}
                  </time>
                </td>
                <td>
                  <Badge value={e.type} />
                </td>
                {showObject ? (
                  <td class="object">
                    {e.involvedObject?.kind}/{e.involvedObject?.name}
                  </td>
                ) : null}
                <td class="reason">{camelBreaks(e.reason ?? "")}</td>
                <td class="message">{e.message}</td>
              </tr>
            ))}
            {!items.length && !events.loading ? (
              <tr>
                <td colSpan={cols.length} class="muted">
                  No events.
                </td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {paged ? (
        <nav class="pager" aria-label="Event pages">
          <button type="button" disabled={page === 0} onClick={() => setTokens(tokens.slice(0, -1))}>
            Previous
          </button>
          <span>Page {page + 1}</span>
          <button type="button" disabled={!next} onClick={() => next && setTokens([...tokens, next])}>
            Next
          </button>
        </nav>
      ) : null}
    </>
  );
}

const PAGE_SIZES = [20, 50, 100, 500];
const KINDS = ["Device", "Fleet", "EnrollmentRequest", "Repository", "ResourceSync", "TemplateVersion", "CertificateSigningRequest"];

/** The Events page's selector of `?kind=…&name=…` (links from detail pages). */
export const eventsHref = (kind: string, name: string) => `/events?${new URLSearchParams({ kind, name })}`;

export function EventsPage() {
  const url = useLocation();
  const [kind, setKind] = useState(url.searchParams.get("kind") ?? "");
  const [name, setName] = useState(url.searchParams.get("name") ?? "");
  const [perPage, setPerPage] = useState(100);
  const selector = [kind && `involvedObject.kind=${kind}`, name && `involvedObject.name=${name}`].filter(Boolean).join(",");
  return (
    <Page title="Events">
      {/* biome-ignore lint/a11y/useSemanticElements: preact's JSX has no <search> element; role=search is its ARIA equivalent */}
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Kind
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">Any</option>
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </label>
        <label>
          Name
          <input value={name} onChange={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Per page
          <select value={perPage} onChange={(e) => setPerPage(Number(e.currentTarget.value))}>
            {PAGE_SIZES.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </form>
      <EventsTable fieldSelector={selector} limit={perPage} paged />
    </Page>
  );
}

/** A link to every event of one object, under a detail page's short list. */
export function AllEventsLink({ kind, name }: { kind: string; name: string }) {
  return (
    <p>
      <Link href={eventsHref(kind, name)}>All events of this {kind.toLowerCase()}</Link>
    </p>
  );
}
