// Who may log in to the built-in issuer: the host's PAM stack (authenticate-pam, an optional native dependency)
// and, on the embedded default, one bootstrap admin. Groups come from the host's group database and become roles
// and organizations (flightctl's mapping).
import { execFile } from "node:child_process";
import { scryptSync, timingSafeEqual, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Checks credentials and tells a user's groups. */
export interface UserSource {
  /** Whether `password` is right for `username`. Never throws for bad credentials. */
  authenticate(username: string, password: string): Promise<boolean>;
  /** The user's group names, or undefined when this source does not know the user. */
  groups(username: string): Promise<string[] | undefined>;
}

/** Linux user names as useradd accepts them; checked before a name reaches PAM or `id`. */
export const USERNAME = /^[a-z_][a-z0-9_.-]{0,31}$/;

type PamModule = { authenticate(user: string, pass: string, cb: (err?: unknown) => void, opts?: { serviceName?: string; remoteHost?: string }): void };

/** The native PAM binding, or undefined when it did not build on this machine. */
export function loadPam(): PamModule | undefined {
  try {
    return createRequire(import.meta.url)("authenticate-pam") as PamModule;
  } catch {
    return undefined;
  }
}

/** Groups of a host user from the group database (`id -Gn`, no shell); undefined when the user does not exist. */
export async function hostGroups(username: string): Promise<string[] | undefined> {
  if (!USERNAME.test(username)) return undefined;
  try {
    const { stdout } = await run("id", ["-Gn", "--", username], { timeout: 5000 });
    return stdout.trim().split(/\s+/).filter(Boolean);
  } catch {
    return undefined;
  }
}

/** Host users through PAM service `service` (a file in /etc/pam.d; Debian falls back to "other"). */
export function pamUsers(pam: PamModule, service: string): UserSource {
  return {
    authenticate(username, password) {
      if (!USERNAME.test(username) || !password) return Promise.resolve(false);
      // The binding runs the PAM conversation on libuv's thread pool, off the event loop.
      return new Promise((resolve) => pam.authenticate(username, password, (err) => resolve(!err), { serviceName: service, remoteHost: "flightctl-pam-issuer" }));
    },
    groups: hostGroups,
  };
}

/** One configured user (the embedded default's bootstrap admin), in group flightctl-admin. */
export function bootstrapUser(username: string, password: string): UserSource {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32);
  return {
    async authenticate(u, p) {
      // Hash compare in constant time so timing does not leak how much of the password matched.
      return u === username && timingSafeEqual(scryptSync(p, salt, 32), hash);
    },
    async groups(u) {
      return u === username ? ["flightctl-admin"] : undefined;
    },
  };
}

/** Tries each source in order: the first that knows the user decides. */
export function chain(sources: UserSource[]): UserSource {
  return {
    async authenticate(u, p) {
      for (const s of sources) {
        if ((await s.groups(u)) === undefined) continue;
        return s.authenticate(u, p);
      }
      return false;
    },
    async groups(u) {
      for (const s of sources) {
        const g = await s.groups(u);
        if (g !== undefined) return g;
      }
      return undefined;
    },
  };
}

/** flightctl's mapping: "org-<name>" → organization; "<org>.<role>" → role "<org>:<role>"; other groups → roles. */
export function rolesAndOrganizations(groups: string[]): { roles: string[]; organizations: string[] } {
  const roles = new Set<string>();
  const organizations = new Set<string>();
  for (const g of groups) {
    if (g.startsWith("org-")) {
      if (g.length > 4) organizations.add(g.slice(4));
    } else if (g.includes(".")) {
      roles.add(g.replace(".", ":"));
    } else {
      roles.add(g);
    }
  }
  return { roles: [...roles], organizations: organizations.size ? [...organizations] : ["default"] };
}

/** Whether PAM service `service` has its own file (else Debian uses /etc/pam.d/other). */
export const pamServiceConfigured = (service: string) => existsSync(`/etc/pam.d/${service}`);
