// Device kind: the generic resource rules plus flightctl's device specifics (initial status, summaryOnly lists,
// lastSeen never returned, consoles/decommissioning refused on plain writes via validation).
import type { JsonObject } from "@bufbuild/protobuf";
import { DeviceListSchema, DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService, type ListDevicesRequest } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { create } from "@bufbuild/protobuf";
import { invalid } from "../platform/errors.js";
import type { KindDefinition } from "../platform/resource/kind.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import { callerOf, listOptions } from "../platform/resource/resource-rpc.js";
import { validateDevice } from "./device-validation.js";
import { createDeviceQueries } from "./device-store.js";

/** The status a device has before its agent reports anything (flightctl's NewDeviceStatus). */
export function initialDeviceStatus(): JsonObject {
  return {
    conditions: [{ type: "Updating", status: "Unknown" }],
    applicationsSummary: { status: "Unknown" },
    integrity: { status: "Unknown" },
    resources: { cpu: "Unknown", disk: "Unknown", memory: "Unknown" },
    updated: { status: "Unknown" },
    summary: { status: "Unknown" },
    lifecycle: { status: "Unknown" },
  };
}

export const deviceKind: KindDefinition<typeof DeviceSchema> = {
  kind: "Device",
  service: DeviceService,
  schema: DeviceSchema,
  listSchema: DeviceListSchema,
  table: "devices",
  validate: (obj) => validateDevice(obj),
  initialStatus: () => initialDeviceStatus(),
  present(doc) {
    // flightctl keeps lastSeen in its own table and never returns it inside status.
    const status = doc.status as JsonObject | undefined;
    if (status && "lastSeen" in status) delete status.lastSeen;
    return doc;
  },
  handlers: ({ svc, orgs, db }) => {
    const queries = createDeviceQueries(db);
    return {
      async listDevices(req: ListDevicesRequest, ctx) {
        const caller = await callerOf(ctx, req.orgId, orgs);
        const opts = listOptions(req.options);
        if (!req.summaryOnly) return svc.list(caller, opts);
        if (opts.limit) throw invalid({ field: "limit", message: "cannot be combined with summaryOnly" });
        if (opts.continueToken) throw invalid({ field: "continue", message: "cannot be combined with summaryOnly" });
        const summary = await queries.summarize(caller.orgId, svc.selectorWhere(opts));
        return create(DeviceListSchema, { apiVersion: API_VERSION, kind: "DeviceList", metadata: {}, items: [], summary });
      },
    };
  },
};
