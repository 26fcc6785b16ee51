// Who is calling: set per request by the endpoint's auth interceptor into Connect context values and passed to
// services explicitly as a Caller (identity + the organization the request acts in).
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import { DEFAULT_ORG_ID } from "../../db/schema/organizations.js";
import { invalid } from "./errors.js";
import { quote } from "../../lib/quote.js";

export { DEFAULT_ORG_ID };

/** flightctl's internal role names. */
export type Role = "admin" | "org-admin" | "operator" | "viewer" | "installer";

interface IdentityBase {
  /** Event actor form: "user:<name>", "device:<name>", "enrollment:<cn>" or "service:<component>". */
  actor: string;
  username: string;
}

/** A person (or script) authenticated by a bearer token. */
export interface UserIdentity extends IdentityBase {
  kind: "user";
  /** Token subject. */
  uid: string;
  displayName?: string;
  /** Issuer URL of the token. */
  issuer: string;
  /** Roles that hold in every organization the user belongs to. */
  roles: Role[];
  /** Roles that hold only in one organization, by the organization's external id. */
  orgRoles: Record<string, Role[]>;
  /** External ids (names) of the user's organizations. */
  organizations: string[];
  /** flightctl-admin: every organization, every resource. */
  superAdmin: boolean;
  /** Raw role strings from the token, for GetUserInfo. */
  rawRoles: string[];
}

/** A device calling with its management certificate. */
export interface DeviceIdentity extends IdentityBase {
  kind: "device";
  deviceName: string;
  orgId: string;
}

/** An agent calling with the shared enrollment certificate. */
export interface EnrollmentIdentity extends IdentityBase {
  kind: "enrollment";
  orgId: string;
}

/** No credentials (public RPCs only), or a service-internal caller. */
export interface OtherIdentity extends IdentityBase {
  kind: "anonymous" | "service";
}

export type Identity = UserIdentity | DeviceIdentity | EnrollmentIdentity | OtherIdentity;

export const anonymous: Identity = { kind: "anonymous", actor: "user:anonymous", username: "anonymous" };

/** A service-internal caller (tasks, bootstrap). */
export const serviceIdentity = (component: string): Identity => ({ kind: "service", actor: `service:${component}`, username: component });

export const identityKey = createContextKey<Identity>(anonymous, { description: "caller identity" });

/** A caller acting within one organization. */
export interface Caller {
  orgId: string;
  identity: Identity;
  /** The organization's external id (its name at the identity provider), when a user acts in it. */
  externalId?: string;
}

/** The caller the auth interceptor resolved for an organization-scoped RPC. */
export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "caller and organization" });

/** The caller of an organization-scoped request (set by the endpoint's auth interceptor). */
export function callerOf(ctx: HandlerContext): Caller {
  const caller = ctx.values.get(callerKey);
  // Every organization-scoped RPC passes the interceptor; reaching here without one is a wiring bug.
  if (!caller) throw new Error(`no caller resolved for ${ctx.method.parent.typeName}/${ctx.method.name}`);
  return caller;
}

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Validates an org id from a request: a UUID, lower-cased. */
export function parseOrgId(orgId: string): string {
  if (!uuid.test(orgId)) throw invalid({ field: "orgId", message: `must be an organization id (UUID), got ${quote(orgId)}` });
  return orgId.toLowerCase();
}

/** The org a request addresses: its org_id, or the default org when empty. */
export function requestedOrg(orgId: string | undefined): string {
  return orgId ? parseOrgId(orgId) : DEFAULT_ORG_ID;
}
