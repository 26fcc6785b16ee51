// OrganizationService: the organizations the caller can see (all of them until authentication lands).
import type { ConnectRouter } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrganizationListSchema, OrganizationSchema } from "../../gen/flightctl/v1beta1/organization_pb.js";
import {
  OrganizationService,
  type GetOrganizationRequest,
  type ListOrganizationsRequest,
} from "../../gen/flightctl/v1beta1/organization_service_pb.js";
import { invalid, notFound } from "../platform/errors.js";
import { requestedOrg } from "../platform/identity.js";
import { decodeContinue, encodeContinue, pageSize } from "../platform/pagination.js";
import { API_VERSION } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/resource/resource-store.js";
import { createOrganizationStore, type OrganizationRow } from "./organization-store.js";

const toMessage = (o: OrganizationRow) =>
  create(OrganizationSchema, {
    apiVersion: API_VERSION,
    kind: "Organization",
    metadata: { name: o.id, resourceVersion: o.resourceVersion, creationTimestamp: timestampFromDate(o.createdAt) },
    spec: { displayName: o.displayName, externalId: o.externalId },
  });

export const organizationServiceRegistration = {
  service: OrganizationService,
  register(router: ConnectRouter, deps: { db: Db }) {
    const store = createOrganizationStore(deps.db);
    router.service(OrganizationService, {
      async listOrganizations(req: ListOrganizationsRequest) {
        if (req.options?.labelSelector) throw invalid({ field: "labelSelector", message: "organizations have no labels" });
        if (req.options?.fieldSelector) throw invalid({ field: "fieldSelector", message: "is not supported for organizations" });
        const limit = pageSize(req.options?.limit);
        const rows = await store.list({ after: decodeContinue(req.options?.continueToken)?.key, limit });
        const page = rows.slice(0, limit);
        const more = rows.length > limit;
        return create(OrganizationListSchema, {
          apiVersion: API_VERSION,
          kind: "OrganizationList",
          metadata: more ? { continueToken: encodeContinue({ key: page[page.length - 1].id }) } : {},
          items: page.map(toMessage),
        });
      },
      async getOrganization(req: GetOrganizationRequest) {
        const org = await store.get(requestedOrg(req.name));
        if (!org) throw notFound("Organization", req.name);
        return toMessage(org);
      },
    });
  },
};
