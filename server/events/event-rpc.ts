// EventService: the audit trail, read-only.
import type { ConnectRouter } from "@connectrpc/connect";
import { EventService, type GetEventRequest, type ListEventsRequest } from "../../gen/flightctl/v1beta1/event_service_pb.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import { callerOf } from "../platform/identity.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createEventService } from "./event-service.js";
import type { Watch } from "../platform/watch/watch-rpc.js";
import { watchEventsHandler } from "../platform/watch/watch-rpc.js";

export const eventServiceRegistration = {
  service: EventService,
  register(router: ConnectRouter, deps: { db: Db; kindDeps: { watch?: Watch } }) {
    const events = createEventService(deps.db);
    router.service(EventService, {
      ...(deps.kindDeps.watch ? { watchEvents: watchEventsHandler(deps.kindDeps.watch) } : {}),
      async listEvents(req: ListEventsRequest, ctx) {
        return events.list(callerOf(ctx), listOptions(req.options), req.order || "desc");
      },
      async getEvent(req: GetEventRequest, ctx) {
        return events.get(callerOf(ctx), req.name);
      },
    });
  },
};
