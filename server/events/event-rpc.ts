// EventService: the audit trail, read-only.
import type { ConnectRouter } from "@connectrpc/connect";
import { EventService, type GetEventRequest, type ListEventsRequest } from "../../gen/flightctl/v1beta1/event_service_pb.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import { callerOf } from "../platform/identity.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createEventService } from "./event-service.js";

export const eventServiceRegistration = {
  service: EventService,
  register(router: ConnectRouter, deps: { db: Db }) {
    const events = createEventService(deps.db);
    router.service(EventService, {
      async listEvents(req: ListEventsRequest, ctx) {
        return events.list(callerOf(ctx), listOptions(req.options), req.order || "desc");
      },
      async getEvent(req: GetEventRequest, ctx) {
        return events.get(callerOf(ctx), req.name);
      },
    });
  },
};
