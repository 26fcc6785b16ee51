// Who may log in, behind one small interface: the bootstrap admin (bootstrap.ts) and the host's PAM stack (pam.ts),
// chained. Groups become roles and organizations with flightctl's mapping.

/** Checks credentials and tells a user's groups (and, optionally, profile and account state). */
export interface UserAuthenticator {
  /** Whether `password` is right for `username`. Never throws for bad credentials or unknown users. */
  authenticate(username: string, password: string): Promise<boolean>;
  /** The user's group names, or undefined when this authenticator does not know the user. */
  groups(username: string): Promise<string[] | undefined>;
  /** Display name (GECOS) and e-mail, when known. */
  profile?(username: string): Promise<{ name?: string; email?: string }>;
  /** False for a locked or expired account (checked at login and at every refresh). */
  active?(username: string): Promise<boolean>;
}

/** Linux user names as useradd accepts them; checked before a name reaches PAM, `id` or `getent`. */
export const USERNAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

/**
 * Tries each authenticator in order; the first that knows the user decides (so a wrong bootstrap-admin password
 * does not fall through to a host user of the same name).
 */
export function chain(list: UserAuthenticator[]): UserAuthenticator {
  const owner = async (u: string) => {
    for (const a of list) if ((await a.groups(u)) !== undefined) return a;
    return undefined;
  };
  return {
    async authenticate(u, p) {
      return (await owner(u))?.authenticate(u, p) ?? false;
    },
    async groups(u) {
      return (await owner(u))?.groups(u);
    },
    async profile(u) {
      return (await (await owner(u))?.profile?.(u)) ?? {};
    },
    async active(u) {
      const a = await owner(u);
      return a !== undefined && (a.active ? await a.active(u) : true);
    },
  };
}

/** flightctl's mapping: "org-<name>" → organization; "<org>.<role>" → role "<org>:<role>"; others → roles as is. */
export function rolesAndOrganizations(groups: string[]): { roles: string[]; organizations: string[] } {
  const roles = new Set<string>();
  const organizations = new Set<string>();
  for (const g of groups) {
    if (g.startsWith("org-")) {
      if (g.length > 4) organizations.add(g.slice(4));
    } else if (g.includes(".")) {
      roles.add(g.replace(".", ":")); // first dot only, as flightctl does
    } else {
      roles.add(g);
    }
  }
  return { roles: [...roles], organizations: organizations.size ? [...organizations] : ["default"] };
}
