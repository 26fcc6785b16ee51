// The `aap` AuthProvider: AAP (Ansible Automation Platform) tokens are opaque, so each one is checked by asking the
// AAP gateway who it belongs to (/api/gateway/v1/me/), then which organizations and roles that user has there. The
// mapping is flightctl's (docs/auth.md "AAP"): a superuser is flightctl-admin everywhere, a platform auditor
// flightctl-viewer everywhere; anyone else belongs to their organizations and their teams' organizations, with the
// roles AAP assigns them (directly or through a team) on an organization, when the role is named like a flightctl
// role (flightctl-org-admin, flightctl-operator, flightctl-viewer, flightctl-installer).
import type { AuthProviderSpec } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import type { Role, UserIdentity } from "../platform/identity.js";
import type { FetchLike } from "./http-client.js";
import { mapRoles } from "./rbac.js";

/** AAP refused the token (401/403 from /me): the caller is not authenticated. */
export class AapTokenRejected extends Error {
  override name = "AapTokenRejected";
}

/** One AAP user as /api/gateway/v1/me/ lists it (the fields used here). */
export interface AapUser {
  id: number;
  username: string;
  email?: string;
  first_name?: string;
  last_name?: string;
  is_superuser?: boolean;
  is_platform_auditor?: boolean;
  summary_fields?: { resource?: { ansible_id?: string } };
}

interface Page<T> {
  next?: string | null;
  results?: T[];
}

/** A role assignment (user or team) as AAP's controller lists it. */
interface RoleAssignment {
  content_type?: string;
  summary_fields?: { role_definition?: { name?: string }; content_object?: { name?: string } };
}

interface Team {
  summary_fields?: { organization?: { name?: string }; resource?: { ansible_id?: string } };
}

/** A client of one AAP gateway, calling with the user's own token. */
export function createAapClient(fetch: FetchLike, apiUrl: string) {
  const base = new URL(apiUrl);
  async function get<T>(url: URL, token: string): Promise<T> {
    const res = await fetch(url.toString(), { headers: { authorization: `Bearer ${token}`, accept: "application/json" } });
    if (res.status === 401 || res.status === 403) throw new AapTokenRejected(`AAP answered HTTP ${res.status} for ${url.pathname}`);
    if (res.status !== 200) throw new Error(`AAP answered HTTP ${res.status} for ${url.pathname}`);
    try {
      return (await res.json()) as T;
    } catch {
      throw new Error(`AAP answered ${url.pathname} with something that is not JSON`);
    }
  }
  /** Every item of a paginated list, following `next` (absolute, or relative to the gateway). */
  async function all<T>(path: string, token: string, query: Record<string, string> = {}): Promise<T[]> {
    const out: T[] = [];
    let url: URL | undefined = new URL(path, base);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    // Bounded: a gateway that keeps answering `next` must not hold the request forever.
    for (let pages = 0; url && pages < 100; pages++) {
      const page: Page<T> = await get<Page<T>>(url, token);
      if (!Array.isArray(page.results)) throw new Error(`AAP answered ${url.pathname} without a results list`);
      out.push(...page.results);
      url = page.next ? new URL(page.next, base) : undefined;
    }
    return out;
  }
  return {
    /** The token's user; AapTokenRejected when AAP refuses the token. */
    async me(token: string): Promise<AapUser> {
      const users = await all<AapUser>("/api/gateway/v1/me/", token);
      if (users.length !== 1 || typeof users[0].id !== "number" || !users[0].username)
        throw new Error(`AAP /api/gateway/v1/me/ listed ${users.length} users, expected exactly one`);
      return users[0];
    },
    organizations: (token: string) => all<{ name: string }>("/api/gateway/v1/organizations", token),
    userOrganizations: (token: string, id: number) => all<{ name: string }>(`/api/gateway/v1/users/${id}/organizations`, token),
    userTeams: (token: string, id: number) => all<Team>(`/api/gateway/v1/users/${id}/teams`, token),
    userRoles: (token: string, ansibleId: string) =>
      all<RoleAssignment>("/api/controller/v2/role_user_assignments/", token, { user__resource__ansible_id: ansibleId }),
    teamRoles: (token: string, ansibleId: string) =>
      all<RoleAssignment>("/api/controller/v2/role_team_assignments/", token, { team__resource__ansible_id: ansibleId }),
  };
}

export type AapClient = ReturnType<typeof createAapClient>;

/** The token's user in Flight Control terms. Errors: AapTokenRejected (not authenticated), others (AAP unusable). */
export async function aapIdentity(client: AapClient, spec: AuthProviderSpec, token: string): Promise<UserIdentity> {
  const user = await client.me(token);
  const prefix = spec.organizationNamePrefix ?? "";
  const globalRaw = [...(user.is_superuser ? ["flightctl-admin"] : []), ...(user.is_platform_auditor ? ["flightctl-viewer"] : [])];
  const names = new Set<string>();
  const assignments: RoleAssignment[] = [];
  if (globalRaw.length > 0) {
    for (const o of await client.organizations(token)) names.add(o.name);
  } else {
    for (const o of await client.userOrganizations(token, user.id)) names.add(o.name);
  }
  // Teams give organizations (to members who are not superuser/auditor) and roles (to everyone).
  const teams = await client.userTeams(token, user.id);
  if (globalRaw.length === 0)
    for (const t of teams) if (t.summary_fields?.organization?.name) names.add(t.summary_fields.organization.name);
  const ansibleId = user.summary_fields?.resource?.ansible_id;
  if (ansibleId) assignments.push(...(await client.userRoles(token, ansibleId)));
  for (const t of teams) {
    const teamId = t.summary_fields?.resource?.ansible_id;
    if (teamId) assignments.push(...(await client.teamRoles(token, teamId)));
  }
  const orgRoles: Record<string, Role[]> = {};
  const rawRoles = [...globalRaw];
  for (const a of assignments) {
    const org = a.summary_fields?.content_object?.name;
    const roleName = a.summary_fields?.role_definition?.name;
    // Only roles on an organization count (flightctl's rule); unknown role names are ignored by mapRoles.
    if (a.content_type !== "shared.organization" || !org || !roleName) continue;
    // flightctl-admin only counts globally (an org-scoped admin would cross organizations).
    const role = mapRoles([roleName]).roles.find((r) => r !== "admin");
    if (!role) continue;
    const list = (orgRoles[`${prefix}${org}`] ??= []);
    if (!list.includes(role)) list.push(role);
    rawRoles.push(`${prefix}${org}:${roleName}`);
  }
  const { roles } = mapRoles(globalRaw);
  const displayName = [user.first_name, user.last_name].filter(Boolean).join(" ");
  return {
    kind: "user",
    actor: `user:${user.username}`,
    username: user.username,
    uid: String(user.id),
    ...(displayName ? { displayName } : {}),
    issuer: spec.apiUrl ?? "",
    roles,
    orgRoles,
    organizations: [...names].map((n) => `${prefix}${n}`),
    superAdmin: roles.includes("admin"),
    rawRoles,
  };
}
