// Organization rules: which org a request addresses, and the read-only listing.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrganizationListSchema, OrganizationSchema } from "../../gen/flightctl/v1beta1/organization_pb.js";
import { invalid, notFound } from "../platform/errors.js";
import { requestedOrg } from "../platform/identity.js";
import { decodeContinue, encodeContinue, pageSize } from "../platform/pagination.js";
import type { OrgResolver } from "../platform/resource/resource-rpc.js";
import { API_VERSION, type ListOptionsInput } from "../platform/resource/resource-service.js";
import type { OrganizationRow, OrganizationStore } from "./organization-store.js";

/**
 * Validates a request's org_id and checks the org exists. Organizations are never deleted, so a positive answer
 * is cached for the life of the process.
 */
export function createOrgResolver(store: OrganizationStore): OrgResolver {
  const known = new Set<string>();
  return async (orgId) => {
    const id = requestedOrg(orgId);
    if (known.has(id)) return id;
    if (!(await store.get(id))) throw notFound("Organization", id);
    known.add(id);
    return id;
  };
}

const toMessage = (o: OrganizationRow) =>
  create(OrganizationSchema, {
    apiVersion: API_VERSION,
    kind: "Organization",
    metadata: { name: o.id, resourceVersion: o.resourceVersion, creationTimestamp: timestampFromDate(o.createdAt) },
    spec: { displayName: o.displayName, externalId: o.externalId },
  });

/** Read-only organization listing (every organization until authentication scopes it to the caller's). */
export function createOrganizationService(store: OrganizationStore) {
  return {
    async list(opts: ListOptionsInput) {
      if (opts.labelSelector) throw invalid({ field: "labelSelector", message: "organizations have no labels" });
      if (opts.fieldSelector) throw invalid({ field: "fieldSelector", message: "is not supported for organizations" });
      const limit = pageSize(opts.limit);
      const rows = await store.list({ after: decodeContinue(opts.continueToken)?.key, limit });
      const page = rows.slice(0, limit);
      return create(OrganizationListSchema, {
        apiVersion: API_VERSION,
        kind: "OrganizationList",
        metadata: rows.length > limit ? { continueToken: encodeContinue({ key: page[page.length - 1].id }) } : {},
        items: page.map(toMessage),
      });
    },
    async get(id: string) {
      const org = await store.get(requestedOrg(id));
      if (!org) throw notFound("Organization", id);
      return toMessage(org);
    },
  };
}
