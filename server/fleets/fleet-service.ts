// Fleet kind: generic rules plus devicesSummary on request and protection of fleets managed by a ResourceSync.
import { fleets } from "../../db/schema/resources.js";
import { clone, create } from "@bufbuild/protobuf";
import { FleetListSchema, FleetSchema, FleetStatusSchema, type Fleet } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { DevicesSummarySchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import {
  FleetService,
  PlanFleetRolloutResponseSchema,
  type GetFleetRequest,
  type ListFleetsRequest,
  type PlanFleetRolloutRequest,
  type StartFleetApplicationRequest,
  type StopFleetApplicationRequest,
} from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { createRolloutReads } from "./rollout-tasks.js";
import { notFound, precondition } from "../platform/errors.js";
import { defineKind } from "../platform/resource/kind.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import { callerOf } from "../platform/identity.js";
import { createDeviceReads } from "../devices/device-service.js";
import { createAppOverrideStore } from "../devices/app-override-store.js";
import { createAppActions, type FleetAppAction } from "../devices/app-actions.js";
import type { HandlerContext } from "@connectrpc/connect";
import { validateFleet } from "./fleet-validation.js";
import { enqueueSelection, enqueueValidate } from "../jobs/queues.js";
import { createTemplateVersionStore } from "../templateversions/templateversion-store.js";

export const fleetKind = defineKind({
  kind: "Fleet",
  service: FleetService,
  schema: FleetSchema,
  listSchema: FleetListSchema,
  table: fleets,
  validate: (obj) => validateFleet(obj),
  // The fleet controller's work is part of the write: a new or changed fleet is validated (template → template
  // version → rollout) and its members recomputed; a deleted fleet releases its devices and drops its versions.
  inTx: {
    created: async (tx, _r, { key }) => {
      await enqueueValidate(tx, key.orgId, key.name);
      await enqueueSelection(tx, [{ orgId: key.orgId, fleet: key.name }]);
    },
    updated: async (tx, _r, { key, changed }) => {
      if (!changed?.includes("spec")) return;
      await enqueueValidate(tx, key.orgId, key.name);
      await enqueueSelection(tx, [{ orgId: key.orgId, fleet: key.name }]);
    },
    deleted: async (tx, _r, { key }) => {
      await createTemplateVersionStore(tx).deleteOfFleet(key.orgId, key.name);
      await createAppOverrideStore(tx).deleteOwner(tx, key.orgId, "Fleet", key.name);
      await enqueueSelection(tx, [{ orgId: key.orgId, fleet: key.name }]);
    },
  },
  ownedFix: (owner) =>
    owner.startsWith("ResourceSync/") ? `change it in the repository that ${owner} syncs from` : `change it through ${owner}`,
  beforeDelete(record) {
    if (record.owner?.startsWith("ResourceSync/")) {
      throw precondition(`fleet is managed by ${record.owner}; remove it from the ResourceSync's repository instead`);
    }
  },
  handlers: ({ standard, svc, db }) => {
    const devices = createDeviceReads(db);
    const rolloutReads = createRolloutReads(db);
    const actions = createAppActions(db);
    /** A start/stop of one template application of a readable fleet (NotFound first), answered with the fleet. */
    async function appAction(req: { name: string; appName: string }, ctx: HandlerContext, action: FleetAppAction) {
      const caller = callerOf(ctx);
      const fleet = await svc.get(caller, req.name);
      await actions.onFleet(caller, { name: req.name, apps: fleet.spec?.template?.spec?.applications ?? [] }, req.appName, action);
      return (await withSummaries(caller.orgId, [await svc.get(caller, req.name)]))[0];
    }
    /** Adds status.devicesSummary (counts of the fleet's devices), flightctl's addDevicesSummary. */
    async function withSummaries(orgId: string, shared: Fleet[]): Promise<Fleet[]> {
      // Messages from the service are shared (cached); add the summary to copies.
      const fleets = shared.map((f) => clone(FleetSchema, f));
      const owners = fleets.map((f) => `Fleet/${f.metadata?.name}`);
      const counts = await devices.ownerSummaries(orgId, owners);
      for (const f of fleets) {
        f.status ??= create(FleetStatusSchema);
        f.status.devicesSummary = create(DevicesSummarySchema, counts.get(`Fleet/${f.metadata?.name}`));
      }
      return fleets;
    }
    return {
      ...standard,
      async getFleet(req: GetFleetRequest, ctx) {
        const caller = callerOf(ctx);
        const fleet = await svc.get(caller, req.name);
        return req.addDevicesSummary ? (await withSummaries(caller.orgId, [fleet]))[0] : fleet;
      },
      async planFleetRollout(req: PlanFleetRolloutRequest, ctx) {
        const caller = callerOf(ctx);
        await svc.get(caller, req.name); // NotFound, and the caller's access to it
        const plan = await rolloutReads.plan(caller.orgId, req.name);
        if (!plan) throw notFound("Fleet", req.name);
        return create(PlanFleetRolloutResponseSchema, plan);
      },
      startFleetApplication: (req: StartFleetApplicationRequest, ctx) => appAction(req, ctx, "start"),
      stopFleetApplication: (req: StopFleetApplicationRequest, ctx) => appAction(req, ctx, "stop"),
      async listFleets(req: ListFleetsRequest, ctx) {
        const caller = callerOf(ctx);
        const list = await svc.list(caller, listOptions(req.options));
        if (req.addDevicesSummary) list.items = await withSummaries(caller.orgId, list.items);
        return list;
      },
    };
  },
});
