// Organization rules: which org a request addresses, and the read-only listing.
import { notFound } from "../platform/errors.js";
import { requestedOrg } from "../platform/identity.js";
import type { OrgResolver } from "../platform/resource/resource-rpc.js";
import type { OrganizationStore } from "./organization-store.js";

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
