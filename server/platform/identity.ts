// Who is calling: set per request by an interceptor into Connect context values and passed to services
// explicitly. Until authentication lands every user-endpoint call is the anonymous user of the default org.
import { createContextKey } from "@connectrpc/connect";
import { DEFAULT_ORG_ID } from "../../db/schema/organizations.js";
import { invalid } from "./errors.js";

export { DEFAULT_ORG_ID };

/** The authenticated principal behind a request. */
export interface Identity {
  /** Event actor form: "user:<name>" or "service:<component>". */
  actor: string;
  username: string;
}

export const anonymous: Identity = { actor: "user:anonymous", username: "anonymous" };

export const identityKey = createContextKey<Identity>(anonymous, { description: "caller identity" });

/** A caller acting within one organization. */
export interface Caller {
  orgId: string;
  identity: Identity;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The org a request addresses: its org_id, or the default org when empty. */
export function requestedOrg(orgId: string | undefined): string {
  if (!orgId) return DEFAULT_ORG_ID;
  if (!uuid.test(orgId)) throw invalid({ field: "orgId", message: `must be an organization id (UUID), got "${orgId}"` });
  return orgId.toLowerCase();
}
