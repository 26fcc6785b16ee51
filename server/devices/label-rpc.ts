// LabelService: the distinct labels of devices (flightctl's GET /labels?kind=Device).
import type { ConnectRouter } from "@connectrpc/connect";
import { LabelService, type ListLabelsRequest } from "../../gen/flightctl/v1beta1/label_service_pb.js";
import { callerOf } from "../platform/identity.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createDeviceReads } from "./device-service.js";

export const labelServiceRegistration = {
  service: LabelService,
  register(router: ConnectRouter, deps: { db: Db }) {
    const reads = createDeviceReads(deps.db);
    router.service(LabelService, {
      async listLabels(req: ListLabelsRequest, ctx) {
        return { labels: await reads.labels(callerOf(ctx), req) };
      },
    });
  },
};
