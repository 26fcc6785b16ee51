// Event reads: newest first by default, field selectors only (events have no labels), keyset paging on the
// insertion sequence.
import { create, fromJson } from "@bufbuild/protobuf";
import { EventListSchema, EventSchema } from "../../gen/flightctl/v1beta1/event_pb.js";
import { invalid, notFound } from "../platform/errors.js";
import type { Caller } from "../platform/identity.js";
import { decodeContinue, encodeContinue, pageSize } from "../platform/pagination.js";
import { API_VERSION, type ListOptionsInput } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/resource/resource-store.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../platform/selectors/field-selector.js";
import { fieldsByKind } from "../platform/selectors/fields.js";
import { createEventStore } from "../platform/event-store.js";
import { quote } from "../../lib/quote.js";

export function createEventService(db: Db) {
  const store = createEventStore(db);
  return {
    async list(caller: Caller, opts: ListOptionsInput, order = "desc") {
      if (opts.labelSelector) throw invalid({ field: "labelSelector", message: "events have no labels; use fieldSelector" });
      if (order !== "asc" && order !== "desc") throw invalid({ field: "order", message: `must be "asc" or "desc", got ${quote(order)}` });
      const where = opts.fieldSelector ? [fieldRequirementsToSql(parseFieldSelector(opts.fieldSelector, fieldsByKind.Event))] : [];
      const after = decodeContinue(opts.continueToken)?.key;
      if (after !== undefined && !/^\d+$/.test(after))
        throw invalid({ field: "continue", message: "is not a token returned by a previous list call" });
      const page = await store.list(caller.orgId, { where, limit: pageSize(opts.limit), afterSeq: after, order });
      return create(EventListSchema, {
        apiVersion: API_VERSION,
        kind: "EventList",
        metadata: page.lastSeq ? { continueToken: encodeContinue({ key: page.lastSeq }), remainingItemCount: page.remaining } : {},
        items: page.events.map((e) => fromJson(EventSchema, e, { ignoreUnknownFields: true })),
      });
    },

    async get(caller: Caller, name: string) {
      const ev = await store.get(caller.orgId, name);
      if (!ev) throw notFound("Event", name);
      return fromJson(EventSchema, ev, { ignoreUnknownFields: true });
    },
  };
}
