// EventService: the audit trail, read-only, newest first by default.
import type { ConnectRouter } from "@connectrpc/connect";
import { create, fromJson } from "@bufbuild/protobuf";
import { EventListSchema, EventSchema } from "../../gen/flightctl/v1beta1/event_pb.js";
import { EventService, type GetEventRequest, type ListEventsRequest } from "../../gen/flightctl/v1beta1/event_service_pb.js";
import { invalid, notFound } from "../platform/errors.js";
import { decodeContinue, encodeContinue, pageSize } from "../platform/pagination.js";
import { callerOf, listOptions, type OrgResolver } from "../platform/resource/resource-rpc.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/resource/resource-store.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../platform/selectors/field-selector.js";
import { fieldsByKind } from "../platform/selectors/fields.js";
import { createEventStore } from "./event-store.js";

export const eventServiceRegistration = {
  service: EventService,
  register(router: ConnectRouter, deps: { db: Db; orgs: OrgResolver }) {
    const store = createEventStore(deps.db);
    router.service(EventService, {
      async listEvents(req: ListEventsRequest, ctx) {
        const caller = await callerOf(ctx, req.orgId, deps.orgs);
        const opts = listOptions(req.options);
        if (opts.labelSelector) throw invalid({ field: "labelSelector", message: "events have no labels; use fieldSelector" });
        const order = req.order || "desc";
        if (order !== "asc" && order !== "desc") throw invalid({ field: "order", message: `must be "asc" or "desc", got "${order}"` });
        const where = opts.fieldSelector ? [fieldRequirementsToSql(parseFieldSelector(opts.fieldSelector, fieldsByKind.Event))] : [];
        const after = decodeContinue(opts.continueToken)?.key;
        if (after !== undefined && !/^\d+$/.test(after)) throw invalid({ field: "continue", message: "is not a token returned by a previous list call" });
        const page = await store.list(caller.orgId, { where, limit: pageSize(opts.limit), afterSeq: after, order });
        return create(EventListSchema, {
          apiVersion: API_VERSION,
          kind: "EventList",
          metadata: page.lastSeq ? { continueToken: encodeContinue({ key: page.lastSeq }), remainingItemCount: page.remaining } : {},
          items: page.events.map((e) => fromJson(EventSchema, e, { ignoreUnknownFields: true })),
        });
      },
      async getEvent(req: GetEventRequest, ctx) {
        const caller = await callerOf(ctx, req.orgId, deps.orgs);
        const ev = await store.get(caller.orgId, req.name);
        if (!ev) throw notFound("Event", req.name);
        return fromJson(EventSchema, ev, { ignoreUnknownFields: true });
      },
    });
  },
};
