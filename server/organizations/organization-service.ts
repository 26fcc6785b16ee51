// Organization rules: the read-only listing, scoped to the caller's organizations.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { OrganizationListSchema, OrganizationSchema } from "../../gen/flightctl/v1beta1/organization_pb.js";
import { invalid, notFound } from "../platform/errors.js";
import { requestedOrg, type Identity } from "../platform/identity.js";
import { decodeContinue, encodeContinue, pageSize } from "../platform/pagination.js";
import { API_VERSION, type ListOptionsInput } from "../platform/resource/resource-service.js";
import type { OrganizationRow, OrganizationStore } from "./organization-store.js";
import type { Membership } from "./membership.js";

const toMessage = (o: OrganizationRow) =>
  create(OrganizationSchema, {
    apiVersion: API_VERSION,
    kind: "Organization",
    metadata: { name: o.id, resourceVersion: o.resourceVersion, creationTimestamp: timestampFromDate(o.createdAt) },
    spec: { displayName: o.displayName, externalId: o.externalId },
  });

/** Read-only organization listing: only the caller's organizations (all of them for a super admin). */
export function createOrganizationService(store: OrganizationStore, membership: Membership) {
  /** Ids the identity may see, or undefined for all. */
  async function visible(identity: Identity): Promise<string[] | undefined> {
    if (identity.kind !== "user") return [];
    return identity.superAdmin ? undefined : [...(await membership.orgsOf(identity)).keys()];
  }
  return {
    async list(identity: Identity, opts: ListOptionsInput) {
      if (opts.labelSelector) throw invalid({ field: "labelSelector", message: "organizations have no labels" });
      if (opts.fieldSelector) throw invalid({ field: "fieldSelector", message: "is not supported for organizations" });
      const limit = pageSize(opts.limit);
      const rows = await store.list({ after: decodeContinue(opts.continueToken)?.key, limit, only: await visible(identity) });
      const page = rows.slice(0, limit);
      return create(OrganizationListSchema, {
        apiVersion: API_VERSION,
        kind: "OrganizationList",
        metadata: rows.length > limit ? { continueToken: encodeContinue({ key: page[page.length - 1].id }) } : {},
        items: page.map(toMessage),
      });
    },
    async get(identity: Identity, id: string) {
      const org = await store.get(requestedOrg(id));
      const only = await visible(identity);
      // Someone else's organization reads as absent: its existence is not the caller's business.
      if (!org || (only && !only.includes(org.id))) throw notFound("Organization", id);
      return toMessage(org);
    },
  };
}
