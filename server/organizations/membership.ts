// Organization membership of users: identity providers name organizations (external ids); each name maps to one
// organization row, created the first time a user of it signs in. Decides which organization a request acts in.
import { forbidden, invalid, notFound } from "../platform/errors.js";
import { DEFAULT_ORG_ID, parseOrgId, type UserIdentity } from "../platform/identity.js";
import type { OrganizationStore } from "./organization-store.js";

export interface Membership {
  /** Organization ids (and their external ids) the user belongs to; super admins belong to all. */
  orgsOf(user: UserIdentity): Promise<Map<string, string>>;
  /** The organization a request acts in: the requested one if the user may, else the user's default. */
  resolve(user: UserIdentity, requested: string | undefined): Promise<{ orgId: string; externalId: string }>;
  /** Whether an organization exists (cached: organizations are never deleted). */
  exists(orgId: string): Promise<string | undefined>;
}

export function createMembership(store: OrganizationStore): Membership {
  const byExternal = new Map<string, string>();
  const externalOf = new Map<string, string>();

  async function idsFor(names: string[]): Promise<void> {
    const missing = names.filter((n) => !byExternal.has(n));
    if (missing.length === 0) return;
    for (const row of await store.ensureExternal(missing)) {
      byExternal.set(row.externalId, row.id);
      externalOf.set(row.id, row.externalId);
    }
  }

  async function exists(orgId: string): Promise<string | undefined> {
    if (externalOf.has(orgId)) return externalOf.get(orgId);
    const row = await store.get(orgId);
    if (!row) return undefined;
    externalOf.set(row.id, row.externalId);
    return row.externalId;
  }

  /** Names of the user's organizations: assigned ones plus those an org-scoped role names. */
  const namesOf = (user: UserIdentity) => [...new Set([...user.organizations, ...Object.keys(user.orgRoles)])];

  return {
    exists,

    async orgsOf(user) {
      await idsFor(namesOf(user));
      return new Map(namesOf(user).map((n) => [byExternal.get(n)!, n]));
    },

    async resolve(user, requested) {
      if (requested) {
        const orgId = parseOrgId(requested);
        const externalId = await exists(orgId);
        if (externalId === undefined) throw notFound("Organization", orgId);
        if (!user.superAdmin && !namesOf(user).includes(externalId)) {
          throw forbidden(`${user.username} is not a member of organization ${orgId}`);
        }
        return { orgId, externalId };
      }
      if (user.superAdmin) return { orgId: DEFAULT_ORG_ID, externalId: (await exists(DEFAULT_ORG_ID)) ?? "default" };
      const names = namesOf(user);
      await idsFor(names);
      const ids = names.map((n) => byExternal.get(n)!);
      if (ids.includes(DEFAULT_ORG_ID)) return { orgId: DEFAULT_ORG_ID, externalId: externalOf.get(DEFAULT_ORG_ID)! };
      if (ids.length === 1) return { orgId: ids[0], externalId: names[0] };
      if (ids.length === 0) throw forbidden(`${user.username} belongs to no organization`);
      throw invalid({ field: "orgId", message: `is required: ${user.username} belongs to several organizations (${names.join(", ")})` });
    },
  };
}
