// One watch stream: its start (the current matches as ADDED then SYNCED, or the changes after a resume version), then
// the hub's batches filtered for it, with BOOKMARKs when idle. Per stream the server remembers which objects the
// client holds (name → version): that tells ADDED from MODIFIED, turns "no longer matches" into DELETED, and drops
// changes the start already sent.
import { fromJson } from "@bufbuild/protobuf";
import { EventSchema, type EventJson } from "../../../gen/flightctl/v1beta1/event_pb.js";
import { busy, invalid, precondition } from "../errors.js";
import type { Caller } from "../identity.js";
import type { SQL } from "drizzle-orm";
import type { ListOptionsInput } from "../resource/resource-service.js";
import type { ResourceRecord, ResourceTable } from "../resource/resource-store.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../selectors/field-selector.js";
import { fieldsByKind } from "../selectors/fields.js";
import type { WatchHub, WatchSource } from "./watch-hub.js";
import { wakeableSleep } from "./wake.js";
import {
  EVENT_SEQ,
  RESOURCE_SEQ,
  selectorCondition,
  watcherCondition,
  type EventChange,
  type ResourceChange,
  type WatchStore,
} from "./watch-store.js";
import { quote } from "../../../lib/quote.js";

export type WatchType = "ADDED" | "MODIFIED" | "DELETED" | "SYNCED" | "BOOKMARK";

/** One message of a Watch<X> stream, in the contract's shape. */
export interface WatchMessage {
  type: WatchType;
  object?: unknown;
  resourceVersion: string;
}

export interface WatchRequest {
  labelSelector: string;
  fieldSelector: string;
  resourceVersion: string;
}

export interface WatchStreamOptions {
  /** A BOOKMARK after this long without messages (default 30 s). */
  bookmarkMs?: number;
  /** Messages a slow client may have queued before its stream is ended (default 100,000). */
  maxQueued?: number;
}

const TOO_OLD = "resource version too old, list again";
const PAGE = 1000;
const INITIAL_EVENTS = 500;

function parseVersion(text: string): number | undefined {
  if (text === "") return undefined;
  if (!/^\d{1,15}$/.test(text))
    throw invalid({ field: "resourceVersion", message: `must be a version from a previous watch or list response, got ${quote(text)}` });
  return Number(text);
}

/** A queue between the hub's callbacks and the stream's async generator; ends the stream when the client lags. */
function createQueue(signal: AbortSignal, opts: WatchStreamOptions) {
  const items: WatchMessage[] = [];
  let wake: (() => void) | undefined;
  let failed: Error | undefined;
  const max = opts.maxQueued ?? 100_000;
  const onAbort = () => wake?.();
  signal.addEventListener("abort", onAbort, { once: true });
  return {
    push(m: WatchMessage) {
      if (failed) return;
      if (items.length >= max) failed = busy(`the watch stream fell ${max} messages behind; resume from the last resourceVersion received`);
      else items.push(m);
      wake?.();
    },
    fail(e: Error) {
      failed ??= e;
      wake?.();
    },
    /** Waits up to `ms` for messages; returns them (possibly none). */
    async take(ms: number): Promise<WatchMessage[]> {
      if (items.length === 0 && !failed && !signal.aborted) {
        await wakeableSleep(ms, (w) => (wake = w));
      }
      if (failed) throw failed;
      return items.splice(0, items.length);
    },
    close() {
      signal.removeEventListener("abort", onAbort);
      wake?.();
    },
  };
}

/** Yields the queue until the client leaves; a BOOKMARK (with `position()`) whenever `bookmarkMs` passed in silence. */
async function* drain(queue: ReturnType<typeof createQueue>, signal: AbortSignal, opts: WatchStreamOptions, position: () => number) {
  const bookmarkMs = opts.bookmarkMs ?? 30_000;
  let last = Date.now();
  while (!signal.aborted) {
    const batch = await queue.take(Math.max(0, last + bookmarkMs - Date.now()));
    if (batch.length > 0) {
      last = Date.now();
      yield* batch;
    } else if (!signal.aborted && Date.now() - last >= bookmarkMs) {
      last = Date.now();
      yield { type: "BOOKMARK" as const, resourceVersion: String(position()) };
    }
  }
}

/**
 * A resource kind as watch streams need it: its table, and from its service the selectors, pages of records and
 * messages. Methods, so any kind's service fits: the changed rows of the kind's table are the kind's records.
 */
export interface WatchableKind {
  kind: string;
  table: ResourceTable;
  svc: {
    selectorWhere(opts: Pick<ListOptionsInput, "labelSelector" | "fieldSelector">): SQL[];
    listPage(caller: Caller, opts: ListOptionsInput): Promise<{ records: ResourceRecord[]; continueToken?: string }>;
    toMessage(record: ResourceRecord): unknown;
  };
}

/** The hub source of a resource kind (one per kind and process). */
export function resourceSource(store: WatchStore, kind: string, table: ResourceTable): WatchSource<ResourceChange> {
  return { kind, seq: RESOURCE_SEQ, changes: (from, to, conds) => store.resourceChanges(kind, table, from, to, conds) };
}

export function eventSource(store: WatchStore): WatchSource<EventChange> {
  return { kind: "Event", seq: EVENT_SEQ, changes: (from, to, conds) => store.eventChanges(from, to, conds) };
}

/** A Watch<Kinds> stream of a resource kind. */
export async function* watchResources(
  deps: { hub: WatchHub; store: WatchStore; source: WatchSource<ResourceChange>; k: WatchableKind },
  caller: Caller,
  req: WatchRequest,
  signal: AbortSignal,
  opts: WatchStreamOptions = {},
): AsyncGenerator<WatchMessage> {
  const { hub, store, source, k } = deps;
  // Same validation and SQL as List; InvalidArgument names the selector.
  const selector = k.svc.selectorWhere({ labelSelector: req.labelSelector, fieldSelector: req.fieldSelector });
  const resumeAfter = parseVersion(req.resourceVersion);
  if (resumeAfter !== undefined && resumeAfter < (await store.prunedVersion())) throw precondition(TOO_OLD);
  const cond = watcherCondition(caller.orgId, selector);

  const queue = createQueue(signal, opts);
  const known = new Map<string, number>();
  // Objects a resume left to later batches that were created after the resume version: their first batch is ADDED.
  const createdSince = new Set<string>();
  const toMsg = (type: WatchType, c: { record: ResourceChange["record"]; rv: number }) => ({
    type,
    object: k.svc.toMessage(c.record),
    resourceVersion: String(c.rv),
  });
  let position = 0;

  function live(rows: ResourceChange[], matches: (r: ResourceChange) => boolean, to: number) {
    for (const row of rows) {
      // Names are unique per organization only: another organization's rows never touch this stream's state.
      if (row.rv <= position || row.orgId !== caller.orgId) continue;
      const name = row.record.name;
      const prev = known.get(name);
      if (row.deleted) {
        if (prev === undefined) continue;
        known.delete(name);
        queue.push(toMsg("DELETED", row));
        continue;
      }
      if (prev !== undefined && row.rv <= prev) continue;
      if (matches(row)) {
        known.set(name, row.rv);
        const added = prev === undefined || createdSince.delete(name);
        queue.push(toMsg(added ? "ADDED" : "MODIFIED", row));
      } else if (prev !== undefined) {
        known.delete(name);
        queue.push(toMsg("DELETED", row));
      }
    }
    position = Math.max(position, to);
    maybeSynced();
  }

  // SYNCED waits until the stream's position covers every listed object, so resuming from it repeats nothing.
  let syncAt: number | undefined;
  function maybeSynced() {
    if (syncAt === undefined || position < syncAt) return;
    syncAt = undefined;
    queue.push({ type: "SYNCED", resourceVersion: String(position) });
  }

  const { startAfter, unsubscribe, deliver } = await hub.subscribe(
    source,
    { cond, condKey: `${caller.orgId}\n${req.labelSelector}\n${req.fieldSelector}`, onBatch: live },
    signal,
  );
  try {
    if (resumeAfter === undefined) {
      // Every current match, through List itself (same scoping, order and paging).
      let continueToken: string | undefined;
      let newest = 0;
      do {
        const page = await k.svc.listPage(caller, {
          labelSelector: req.labelSelector,
          fieldSelector: req.fieldSelector,
          limit: PAGE,
          continueToken,
        });
        for (const record of page.records) {
          const rv = Number(record.resourceVersion);
          known.set(record.name, rv);
          newest = Math.max(newest, rv);
          // Not a resume point: a stream cut during the initial list starts over (resource_version "").
          queue.push({ type: "ADDED", object: k.svc.toMessage(record), resourceVersion: "" });
        }
        continueToken = page.continueToken;
      } while (continueToken);
      position = startAfter;
      syncAt = Math.max(newest, startAfter);
    } else {
      await catchUp(resumeAfter);
    }
    // Batches that arrived meanwhile, then live.
    deliver();
    maybeSynced();
    yield* drain(queue, signal, opts, () => position);
  } finally {
    unsubscribe();
    queue.close();
  }

  /**
   * Sends the changes in (after, startAfter] (DELETED for deletions and for objects that no longer match, even if the
   * client never held them), then a BOOKMARK; and records what the client holds so later batches are told apart.
   */
  async function catchUp(after: number) {
    const changes = startAfter > after ? await store.resourceChanges(k.kind, k.table, after, startAfter, [cond]) : [];
    const scan = await store.resumeScan(k.kind, k.table, caller.orgId, after, selectorCondition(selector));
    const deletedLater = await store.deletionsSince(k.kind, caller.orgId, Math.max(after, startAfter));
    const created = new Set(scan.filter((r) => r.created).map((r) => r.name));
    for (const c of changes) {
      const name = c.record.name;
      if (c.deleted || !c.matches[0]) {
        known.delete(name);
        queue.push(toMsg("DELETED", c));
      } else {
        known.set(name, c.rv);
        queue.push(toMsg(created.has(name) ? "ADDED" : "MODIFIED", c));
      }
    }
    for (const r of scan) {
      // Unchanged since `after`: the client holds it if it matches.
      if (r.rv <= after && r.matches) known.set(r.name, r.rv);
      // Changed after the catch-up range, or deleted since: the client may hold some state, its batch tells what.
      else if (r.rv > startAfter) {
        known.set(r.name, after);
        if (r.created) createdSince.add(r.name);
      }
    }
    for (const d of deletedLater) known.set(d.name, after);
    position = Math.max(after, startAfter);
    queue.push({ type: "BOOKMARK", resourceVersion: String(position) });
  }
}

/** A WatchEvents stream: events are append-only, so only ADDED (plus SYNCED and BOOKMARK). */
export async function* watchEvents(
  deps: { hub: WatchHub; store: WatchStore; source: WatchSource<EventChange> },
  caller: Caller,
  req: WatchRequest,
  signal: AbortSignal,
  opts: WatchStreamOptions = {},
): AsyncGenerator<WatchMessage> {
  const { hub, store, source } = deps;
  if (req.labelSelector) throw invalid({ field: "labelSelector", message: "events have no labels; use fieldSelector" });
  const field = req.fieldSelector ? [fieldRequirementsToSql(parseFieldSelector(req.fieldSelector, fieldsByKind.Event))] : [];
  const resumeAfter = parseVersion(req.resourceVersion);
  if (resumeAfter !== undefined) {
    const oldest = await store.oldestEventSeq();
    if (oldest !== undefined && oldest > resumeAfter + 1) throw precondition(TOO_OLD);
  }
  const cond = watcherCondition(caller.orgId, field);
  const queue = createQueue(signal, opts);
  const toMsg = (seq: number, event: EventJson) => ({
    type: "ADDED" as const,
    object: fromJson(EventSchema, event, { ignoreUnknownFields: true }),
    resourceVersion: String(seq),
  });
  let position = 0;
  const live = (rows: EventChange[], matches: (r: EventChange) => boolean, to: number) => {
    for (const r of rows) if (r.seq > position && matches(r)) queue.push(toMsg(r.seq, r.event));
    position = Math.max(position, to);
  };
  const { startAfter, unsubscribe, deliver } = await hub.subscribe(
    source,
    { cond, condKey: `${caller.orgId}\n\n${req.fieldSelector}`, onBatch: live },
    signal,
  );
  try {
    if (resumeAfter === undefined) {
      for (const e of await store.eventsUpTo(caller.orgId, selectorCondition(field), 0, startAfter, INITIAL_EVENTS))
        queue.push(toMsg(e.seq, e.event));
      queue.push({ type: "SYNCED", resourceVersion: String(startAfter) });
    } else if (startAfter > resumeAfter) {
      for (const c of await store.eventChanges(resumeAfter, startAfter, [cond])) if (c.matches[0]) queue.push(toMsg(c.seq, c.event));
    }
    position = Math.max(startAfter, resumeAfter ?? 0);
    deliver();
    yield* drain(queue, signal, opts, () => position);
  } finally {
    unsubscribe();
    queue.close();
  }
}
