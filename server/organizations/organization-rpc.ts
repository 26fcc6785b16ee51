// OrganizationService: the organizations the caller can see.
import type { ConnectRouter } from "@connectrpc/connect";
import {
  OrganizationService,
  type GetOrganizationRequest,
  type ListOrganizationsRequest,
} from "../../gen/flightctl/v1beta1/organization_service_pb.js";
import { listOptions } from "../platform/resource/resource-rpc.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createOrganizationStore } from "./organization-store.js";
import { createOrganizationService } from "./organization-service.js";

export const organizationServiceRegistration = {
  service: OrganizationService,
  register(router: ConnectRouter, deps: { db: Db }) {
    const orgs = createOrganizationService(createOrganizationStore(deps.db));
    router.service(OrganizationService, {
      listOrganizations: (req: ListOrganizationsRequest) => orgs.list(listOptions(req.options)),
      getOrganization: (req: GetOrganizationRequest) => orgs.get(req.name),
    });
  },
};
