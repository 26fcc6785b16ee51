// TemplateVersion kind: immutable snapshots of a fleet's template, children of a fleet. Created by the fleet
// worker (never through the API); users can get, list and delete them.
import { templateVersions } from "../../db/schema/resources.js";
import { TemplateVersionListSchema, TemplateVersionSchema } from "../../gen/flightctl/v1beta1/templateversion_pb.js";
import {
  TemplateVersionService,
  type DeleteTemplateVersionRequest,
  type GetTemplateVersionRequest,
  type ListTemplateVersionsRequest,
} from "../../gen/flightctl/v1beta1/templateversion_service_pb.js";
import { invalid } from "../platform/errors.js";
import { defineKind } from "../platform/resource/kind.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import { callerOf } from "../platform/identity.js";

const fleetOf = (fleet: string) => {
  if (!fleet) throw invalid({ field: "fleet", message: "is required" });
  return fleet;
};

export const templateVersionKind = defineKind({
  kind: "TemplateVersion",
  service: TemplateVersionService,
  schema: TemplateVersionSchema,
  listSchema: TemplateVersionListSchema,
  table: templateVersions,
  // Never written by users: nothing to validate on this path.
  validate: () => [],
  handlers: ({ standard, svc }) => ({
    ...standard,
    async getTemplateVersion(req: GetTemplateVersionRequest, ctx) {
      return svc.get(callerOf(ctx), req.name, fleetOf(req.fleet));
    },
    async listTemplateVersions(req: ListTemplateVersionsRequest, ctx) {
      return svc.list(callerOf(ctx), listOptions(req.options), fleetOf(req.fleet));
    },
    async deleteTemplateVersion(req: DeleteTemplateVersionRequest, ctx) {
      await svc.delete(callerOf(ctx), req.name, fleetOf(req.fleet));
      return {};
    },
  }),
});
