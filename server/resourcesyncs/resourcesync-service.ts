// ResourceSync kind: generic rules; the sync itself runs in the worker (GitOps issue).
import { ResourceSyncListSchema, ResourceSyncSchema } from "../../gen/flightctl/v1beta1/resourcesync_pb.js";
import { ResourceSyncService } from "../../gen/flightctl/v1beta1/resourcesync_service_pb.js";
import type { KindDefinition } from "../platform/resource/kind.js";
import { validateResourceSync } from "./resourcesync-validation.js";

export const resourceSyncKind: KindDefinition<typeof ResourceSyncSchema> = {
  kind: "ResourceSync",
  service: ResourceSyncService,
  schema: ResourceSyncSchema,
  listSchema: ResourceSyncListSchema,
  table: "resource_syncs",
  validate: (obj) => validateResourceSync(obj),
};
