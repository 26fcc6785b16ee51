// Device kind: the generic resource rules plus flightctl's device specifics (initial status, summaryOnly lists,
// consoles/decommissioning refused on plain writes via validation), and status.lastSeen on reads: it lives in its own
// table (device_last_seen, written in batches by the agent endpoint), so the stored status never holds it and the
// reads add it (one indexed query per page), as fresh as the last flush.
import { devices } from "../../db/schema/resources.js";
import {
  DeviceLastSeenSchema,
  DeviceListSchema,
  DeviceSchema,
  DeviceStatusSchema,
  type Device,
  type DeviceStatusJson,
} from "../../gen/flightctl/v1beta1/device_pb.js";
import {
  DeviceService,
  type DecommissionDeviceRequest,
  type GetDeviceLastSeenRequest,
  type GetDeviceRequest,
  type GetDeviceStatusRequest,
  type GetRenderedDeviceRequest,
  type RestartDeviceApplicationRequest,
  type StartDeviceApplicationRequest,
  type StopDeviceApplicationRequest,
  type ListDevicesRequest,
  type ResumeDevicesRequest,
} from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
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
import type { HandlerContext } from "@connectrpc/connect";
import { pageSize } from "../platform/pagination.js";
import { labelRequirementsToSql, parseLabelSelector } from "../platform/selectors/label-selector.js";
import { fieldRequirementsToSql, parseFieldSelector } from "../platform/selectors/field-selector.js";
import { fieldsByKind } from "../platform/selectors/fields.js";
import { validateDevice } from "./device-validation.js";
import { createDeviceQueries } from "./device-store.js";
import { enqueueRenders, enqueueSelection } from "../jobs/queues.js";
import type { Executor } from "../platform/resource/resource-store.js";
import { quote } from "../../lib/quote.js";
import { createAppOverrideStore } from "./app-override-store.js";
import { createAppActions, type DeviceAppAction } from "./app-actions.js";
import { createRenderedReads } from "./rendered-device.js";

/** Queues (or re-queues) the render of one device in the current transaction. */
export const enqueueRender = (tx: Executor, orgId: string, name: string) => enqueueRenders(tx, orgId, [name]);

/**
 * Every write that gives a device labels (create, replace, patch, enrollment approval) calls this in its transaction:
 * the fleet controller then decides the device's owner from its labels (server/fleets/fleet-ownership.ts), after
 * the write commits. One batch job per org collects the devices, so 10,000 approvals cost a few selection passes.
 * Status reports never change labels and never call it.
 */
export const reselectOwner = (tx: Executor, orgId: string, name: string) => enqueueSelection(tx, [{ orgId, device: name }]);

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
  ownedFix: (owner) =>
    owner.startsWith("Fleet/")
      ? `change the template of ${owner}, or remove the device from the fleet by changing its labels so that the fleet's selector no longer matches them`
      : `change it through ${owner}`,
  // Every spec change is rendered by a worker; the job is part of the write (batched, see render-queue.ts).
  // A new device, or one whose labels changed, may join or leave a fleet.
  inTx: {
    created: async (tx, _r, { key }) => {
      await enqueueRender(tx, key.orgId, key.name);
      await reselectOwner(tx, key.orgId, key.name);
    },
    updated: async (tx, _r, { key, changed }) => {
      if (changed?.includes("spec")) await enqueueRender(tx, key.orgId, key.name);
      if (changed?.includes("labels")) await reselectOwner(tx, key.orgId, key.name);
    },
    // A device deleted and created again under the same name starts without start/stop/restart overrides.
    deleted: (tx, _r, { key }) => createAppOverrideStore(tx).deleteOwner(tx, key.orgId, "Device", key.name),
  },
  present(doc) {
    // lastSeen lives in its own table: a stored status never carries one (the reads add the table's).
    if (doc.status && "lastSeen" in doc.status) delete doc.status.lastSeen;
    return doc;
  },
  handlers: ({ standard, svc, db }) => {
    const reads = createDeviceReads(db);
    const lifecycle = createDeviceDecommission(db, svc);
    const actions = createAppActions(db);
    const rendered = createRenderedReads(db);
    /** An application action on a readable device (NotFound first), answered with the device. */
    async function appAction(req: { name: string; appName: string }, ctx: HandlerContext, action: DeviceAppAction) {
      const caller = callerOf(ctx);
      const device = await svc.get(caller, req.name);
      await actions.onDevice(
        caller,
        {
          name: req.name,
          owner: device.metadata?.owner,
          apps: device.spec?.applications ?? [],
          decommissioning: !!device.spec?.decommissioning,
        },
        req.appName,
        action,
      );
      return (await reads.withLastSeen(caller.orgId, [await svc.get(caller, req.name)]))[0];
    }
    return {
      ...standard,
      getDevice: async (req: GetDeviceRequest, ctx) => {
        const caller = callerOf(ctx);
        return (await reads.withLastSeen(caller.orgId, [await svc.get(caller, req.name)]))[0];
      },
      getDeviceStatus: async (req: GetDeviceStatusRequest, ctx) => {
        const caller = callerOf(ctx);
        return (await reads.withLastSeen(caller.orgId, [await svc.get(caller, req.name)]))[0];
      },
      getDeviceLastSeen: async (req: GetDeviceLastSeenRequest, ctx) => {
        const caller = callerOf(ctx);
        await svc.get(caller, req.name); // NotFound for an unknown device
        const at = (await reads.lastSeen(caller.orgId, [req.name])).get(req.name);
        return create(DeviceLastSeenSchema, at ? { lastSeen: timestampFromDate(at) } : {});
      },
      decommissionDevice: async (req: DecommissionDeviceRequest, ctx) =>
        lifecycle.decommission(callerOf(ctx), req.name, req.decommission?.target),
      getRenderedDevice: async (req: GetRenderedDeviceRequest, ctx) => {
        const caller = callerOf(ctx);
        await svc.get(caller, req.name); // NotFound for an unknown device
        return rendered.get(caller.orgId, req.name, req.knownRenderedVersion);
      },
      startDeviceApplication: (req: StartDeviceApplicationRequest, ctx) => appAction(req, ctx, "start"),
      stopDeviceApplication: (req: StopDeviceApplicationRequest, ctx) => appAction(req, ctx, "stop"),
      restartDeviceApplication: (req: RestartDeviceApplicationRequest, ctx) => appAction(req, ctx, "restart"),
      resumeDevices: async (req: ResumeDevicesRequest, ctx) => ({
        resumedDevices: await lifecycle.resume(callerOf(ctx), req.labelSelector, req.fieldSelector),
      }),
      async listDevices(req: ListDevicesRequest, ctx) {
        const caller = callerOf(ctx);
        const opts = listOptions(req.options);
        if (req.summaryOnly) return reads.summary(caller, opts, svc.selectorWhere(opts));
        const list = await svc.list(caller, opts);
        list.items = await reads.withLastSeen(caller.orgId, list.items);
        return list;
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
      if (req.kind !== "Device") throw invalid({ field: "kind", message: `only "Device" is supported, got ${quote(req.kind)}` });
      const where = req.labelSelector ? [labelRequirementsToSql(parseLabelSelector(req.labelSelector))] : [];
      const pairWhere = req.fieldSelector ? [fieldRequirementsToSql(parseFieldSelector(req.fieldSelector, fieldsByKind.DeviceLabel))] : [];
      return queries.labels(caller.orgId, where, pairWhere, pageSize(req.limit));
    },

    /** When each of `names` was last heard from (as of the last flush); never-seen devices are absent. */
    lastSeen: (orgId: string, names: string[]) => queries.lastSeenOf(orgId, names),

    /**
     * The devices with status.lastSeen from device_last_seen. The service's messages are shared (cached by resource
     * version): each device and its status are copied shallowly before the field is set.
     */
    async withLastSeen(orgId: string, items: Device[]): Promise<Device[]> {
      const seen = await queries.lastSeenOf(
        orgId,
        items.map((d) => d.metadata?.name ?? ""),
      );
      return items.map((d) => {
        const at = seen.get(d.metadata?.name ?? "");
        if (!at) return d;
        return { ...d, status: { ...(d.status ?? create(DeviceStatusSchema)), lastSeen: timestampFromDate(at) } };
      });
    },

    /** Status counts of the devices owned by each of `owners` ("Fleet/<name>"). */
    ownerSummaries: (orgId: string, owners: string[]) => queries.summarizeByOwner(orgId, owners),
  };
}
