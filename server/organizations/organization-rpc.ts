// OrganizationService: the organizations the caller can see.
import type { ConnectRouter } from "@connectrpc/connect";
import {
  OrganizationService,
  type GetOrganizationRequest,
  type ListOrganizationsRequest,
} from "../../gen/flightctl/v1beta1/organization_service_pb.js";
import { identityKey } from "../platform/identity.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import type { ServiceDeps } from "../app-deps.js";
import { createOrganizationService } from "./organization-service.js";

export const organizationServiceRegistration = {
  service: OrganizationService,
  register(router: ConnectRouter, deps: ServiceDeps) {
    const orgs = createOrganizationService(deps.orgStore, deps.membership);
    router.service(OrganizationService, {
      listOrganizations: (req: ListOrganizationsRequest, ctx) => orgs.list(ctx.values.get(identityKey), listOptions(req.options)),
      getOrganization: (req: GetOrganizationRequest, ctx) => orgs.get(ctx.values.get(identityKey), req.name),
    });
  },
};
