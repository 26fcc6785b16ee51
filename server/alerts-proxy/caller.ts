// Who calls the proxy and in which organization: the API's own pieces, in the API's order (authenticate the bearer
// token, resolve the organization with membership checked, then RBAC with the roles that hold there).
import type { Membership } from "../organizations/membership.js";
import { allowed } from "../auth/rbac.js";
import { rolesIn, type Authenticate } from "../auth/user-auth-interceptor.js";
import { DomainError, forbidden } from "../platform/errors.js";
import type { UserIdentity } from "../platform/identity.js";

export interface ProxyAuth {
  authenticate: Authenticate;
  membership: Membership;
}

export interface ProxyCaller {
  user: UserIdentity;
  /** The organization's id: the value of every alert's org_id label. */
  orgId: string;
  externalId: string;
}

/**
 * The caller of a request that needs `verb` on `resource`, acting in `requestedOrg` (an org id the request names) or,
 * when it names none, in the organization the API would pick for it.
 */
export async function resolveCaller(
  auth: ProxyAuth,
  authorization: string | null,
  requestedOrg: string | undefined,
  resource: string,
  verb: string,
): Promise<ProxyCaller> {
  const user = await auth.authenticate(authorization);
  let org: { orgId: string; externalId: string };
  try {
    org = await auth.membership.resolve(user, requestedOrg);
  } catch (e) {
    // An organization that does not exist is, to the caller, one it is not a member of (no probing for ids).
    if (e instanceof DomainError && e.kind === "notFound")
      throw forbidden(`${user.username} is not a member of organization ${requestedOrg}`);
    throw e;
  }
  if (!allowed(rolesIn(user, org.externalId), resource, verb)) {
    throw forbidden(`${user.username} may not ${verb} ${resource} in organization ${org.externalId}`);
  }
  return { user, ...org };
}
