// Device kind: the generic resource rules plus flightctl's device specifics (initial status, summaryOnly lists,
// lastSeen never returned, consoles/decommissioning refused on plain writes via validation).
import { devices } from "../../db/schema/resources.js";
import { DeviceListSchema, DeviceSchema, type DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import {
  DeviceService,
  type DecommissionDeviceRequest,
  type ListDevicesRequest,
  type ResumeDevicesRequest,
} from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { createDeviceDecommission, refuseIfDecommissioning } from "./device-decommission.js";
import { create } from "@bufbuild/protobuf";
import { invalid } from "../platform/errors.js";
import { defineKind } from "../platform/resource/kind.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import { callerOf } from "../platform/identity.js";
import type { ListOptionsInput } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/db.js";
import type { Caller } from "../platform/identity.js";
import type { SQL } from "drizzle-orm";
import { pageSize } from "../platform/pagination.js";
import { labelRequirementsToSql, parseLabelSelector } from "../platform/selectors/label-selector.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../platform/selectors/field-selector.js";
import { fieldsByKind } from "../platform/selectors/fields.js";
import { validateDevice } from "./device-validation.js";
import { createDeviceQueries } from "./device-store.js";
import { enqueueRenders, enqueueSelection } from "../jobs/queues.js";
import type { Executor } from "../platform/resource/resource-store.js";

/** Queues (or re-queues) the render of one device in the current transaction. */
export const enqueueRender = (tx: Executor, orgId: string, name: string) => enqueueRenders(tx, orgId, [name]);

/** The status a device has before its agent reports anything (flightctl's NewDeviceStatus). */
export function initialDeviceStatus(): DeviceStatusJson {
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

export const deviceKind = defineKind({
  kind: "Device",
  service: DeviceService,
  schema: DeviceSchema,
  listSchema: DeviceListSchema,
  table: devices,
  validate: (obj) => validateDevice(obj),
  initialStatus: () => initialDeviceStatus(),
  checkUserWrite: refuseIfDecommissioning,
  // Every spec change is rendered by a worker; the job is part of the write (batched, see render-queue.ts).
  // A new device, or one whose labels changed, may join or leave a fleet.
  inTx: {
    created: async (tx, _r, { key }) => {
      await enqueueRender(tx, key.orgId, key.name);
      await enqueueSelection(tx, [{ orgId: key.orgId, device: key.name }]);
    },
    updated: async (tx, _r, { key, changed }) => {
      if (changed?.includes("spec")) await enqueueRender(tx, key.orgId, key.name);
      if (changed?.includes("labels")) await enqueueSelection(tx, [{ orgId: key.orgId, device: key.name }]);
    },
  },
  present(doc) {
    // flightctl keeps lastSeen in its own table and never returns it inside status.
    if (doc.status && "lastSeen" in doc.status) delete doc.status.lastSeen;
    return doc;
  },
  handlers: ({ standard, svc, db }) => {
    const reads = createDeviceReads(db);
    const lifecycle = createDeviceDecommission(db, svc);
    return {
      ...standard,
      decommissionDevice: async (req: DecommissionDeviceRequest, ctx) =>
        lifecycle.decommission(callerOf(ctx), req.name, req.decommission?.target),
      resumeDevices: async (req: ResumeDevicesRequest, ctx) => ({
        resumedDevices: await lifecycle.resume(callerOf(ctx), req.labelSelector, req.fieldSelector),
      }),
      async listDevices(req: ListDevicesRequest, ctx) {
        const caller = callerOf(ctx);
        const opts = listOptions(req.options);
        return req.summaryOnly ? reads.summary(caller, opts, svc.selectorWhere(opts)) : svc.list(caller, opts);
      },
    };
  },
});

/** Device reads beyond the generic ones: status summaries (summaryOnly, fleets) and the labels listing. */
export function createDeviceReads(db: Db) {
  const queries = createDeviceQueries(db);
  return {
    /** flightctl's summaryOnly list: no items, status counts of the selected devices; paging makes no sense. */
    async summary(caller: Caller, opts: ListOptionsInput, where: SQL[]) {
      if (opts.limit) throw invalid({ field: "limit", message: "cannot be combined with summaryOnly" });
      if (opts.continueToken) throw invalid({ field: "continue", message: "cannot be combined with summaryOnly" });
      const summary = await queries.summarize(caller.orgId, where);
      return create(DeviceListSchema, { apiVersion: API_VERSION, kind: "DeviceList", metadata: {}, items: [], summary });
    },

    /** Distinct "key=value" labels of the devices a label selector picks; the field selector filters the pairs. */
    async labels(caller: Caller, req: { kind: string; labelSelector: string; fieldSelector: string; limit: number }) {
      if (req.kind !== "Device") throw invalid({ field: "kind", message: `only "Device" is supported, got "${req.kind}"` });
      const where = req.labelSelector ? [labelRequirementsToSql(parseLabelSelector(req.labelSelector))] : [];
      const pairWhere = req.fieldSelector ? [fieldRequirementsToSql(parseFieldSelector(req.fieldSelector, fieldsByKind.DeviceLabel))] : [];
      return queries.labels(caller.orgId, where, pairWhere, pageSize(req.limit));
    },

    /** Status counts of the devices owned by each of `owners` ("Fleet/<name>"). */
    ownerSummaries: (orgId: string, owners: string[]) => queries.summarizeByOwner(orgId, owners),
  };
}
