// ResourceSync kind: generic rules, a sync queued with every create and spec change (server/resourcesyncs/
// resourcesync-tasks.ts does it), SyncResourceSync (sync now, for push webhooks), and what deleting one does to its
// fleets: they stay, released (owner cleared), so devices keep running and users can edit or delete them.
import { resourceSyncs } from "../../db/schema/resources.js";
import { ResourceSyncListSchema, ResourceSyncSchema } from "../../gen/flightctl/v1beta1/resourcesync_pb.js";
import { ResourceSyncService, type SyncResourceSyncRequest } from "../../gen/flightctl/v1beta1/resourcesync_service_pb.js";
import { createFleetStore } from "../fleets/fleet-store.js";
import { callerOf } from "../platform/identity.js";
import { defineKind } from "../platform/resource/kind.js";
import { enqueueSync, queueSync } from "../jobs/queues.js";
import { validateResourceSync } from "./resourcesync-validation.js";

export const resourceSyncKind = defineKind({
  kind: "ResourceSync",
  service: ResourceSyncService,
  schema: ResourceSyncSchema,
  listSchema: ResourceSyncListSchema,
  table: resourceSyncs,
  validate: (obj) => validateResourceSync(obj),
  inTx: {
    created: (tx, _r, { key }) => enqueueSync(tx, key.orgId, key.name),
    updated: async (tx, _r, { key, changed }) => {
      if (changed?.includes("spec")) await enqueueSync(tx, key.orgId, key.name);
    },
    deleted: async (tx, _r, { key, actor }) => {
      const owner = `ResourceSync/${key.name}`;
      await createFleetStore(tx).releaseOwnedBy(tx, key.orgId, owner, (fleet) => ({
        reason: "ResourceUpdated",
        type: "Normal",
        message: `Fleet was released: its ResourceSync "${key.name}" was deleted.`,
        actor: actor ?? "service:flightctl-api",
        involvedObject: { kind: "Fleet", name: fleet },
        sourceComponent: "flightctl-api",
        details: { detailType: "ResourceUpdated", updatedFields: ["owner"], previousOwner: owner },
      }));
    },
  },
  handlers: ({ standard, svc, db }) => ({
    ...standard,
    async syncResourceSync(req: SyncResourceSyncRequest, ctx) {
      const caller = callerOf(ctx);
      const rs = await svc.get(caller, req.name); // NotFound before queueing anything
      await queueSync(db, caller.orgId, req.name);
      return rs;
    },
  }),
});
