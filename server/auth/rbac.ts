// Role-based access: flightctl's static permission table and the mapping of token role strings to roles.
// Rules (flightctl's): a specific resource entry overrides "*"; an empty verb list is an explicit denial.
import type { Role } from "../platform/identity.js";

type Table = Record<string, string[]>;
const ALL = ["*"];
const CRUD = ["get", "list", "create", "update", "patch", "delete"];

const table: Record<Role, Table> = {
  admin: { "*": ALL },
  "org-admin": { "*": ALL },
  operator: {
    devices: CRUD,
    fleets: CRUD,
    resourcesyncs: CRUD,
    repositories: CRUD,
    catalogs: ["get", "list"],
    catalogitems: ["get", "list"],
    imagebuilds: CRUD,
    "imagebuilds/cancel": ["create"],
    "imagebuilds/newversion": ["create"],
    imageexports: CRUD,
    "imageexports/cancel": ["create"],
    "imageexports/download": ["get"],
    imagepromotions: CRUD,
    "repositories/check-oci-tag": ["create"],
    "repositories/check-oci-image": ["create"],
    "devices/applications/lifecycle": ["update"],
    "fleets/applications/lifecycle": ["update"],
    // Alertmanager silences through the alert proxy (alerts themselves are read through "*").
    "alerts/silences": ["get", "list", "create", "delete"],
    "*": ["get", "list"],
  },
  viewer: {
    "*": ["get", "list"],
    "devices/console": [],
    "devices/applications/console": [],
    "imageexports/download": [],
  },
  installer: {
    enrollmentrequests: ["get", "list"],
    "enrollmentrequests/approval": ["update"],
    // Not in flightctl's table: an installer provisions devices, which needs the enrollment material.
    enrollmentconfig: ["get"],
    organizations: ["get", "list"],
    certificatesigningrequests: ["get", "list", "create", "update"],
    imagebuilds: ["get", "list"],
    imageexports: ["get", "list"],
    "imageexports/download": ["get"],
  },
};

function roleAllows(role: Role, resource: string, verb: string): boolean {
  const t = table[role];
  const verbs = t[resource] ?? t["*"];
  return !!verbs && (verbs.includes("*") || verbs.includes(verb));
}

/** Whether any of `roles` allows `verb` on `resource`. */
export function allowed(roles: readonly Role[], resource: string, verb: string): boolean {
  return roles.some((r) => roleAllows(r, resource, verb));
}

/** The effective permission list of `roles` (GetPermissions): every resource any role names, plus "*". */
export function permissionsOf(roles: readonly Role[]): { resource: string; operations: string[] }[] {
  const resources = new Set<string>();
  for (const r of roles) for (const res of Object.keys(table[r])) resources.add(res);
  const out: { resource: string; operations: string[] }[] = [];
  for (const resource of [...resources].sort()) {
    const ops = new Set<string>();
    for (const r of roles) {
      const t = table[r];
      const verbs = t[resource] ?? (resource === "*" ? undefined : t["*"]);
      for (const v of verbs ?? []) ops.add(v);
    }
    out.push({ resource, operations: ops.has("*") ? ["*"] : CRUD.filter((v) => ops.has(v)) });
  }
  return out;
}

/** External role names (token claims, Linux groups) → internal roles. */
const external: Record<string, Role> = {
  "flightctl-admin": "admin",
  "flightctl-org-admin": "org-admin",
  "flightctl-operator": "operator",
  "flightctl-viewer": "viewer",
  "flightctl-installer": "installer",
};

/**
 * Splits token role strings into global roles and per-organization roles ("<org><sep><role>"). Unknown role names
 * are ignored; flightctl-admin only counts globally (an org-scoped admin would cross organizations).
 */
export function mapRoles(raw: readonly string[], separator = ":"): { roles: Role[]; orgRoles: Record<string, Role[]> } {
  const roles = new Set<Role>();
  const orgRoles: Record<string, Role[]> = {};
  for (const s of raw) {
    const i = s.indexOf(separator);
    if (i < 0) {
      const role = external[s];
      if (role) roles.add(role);
      continue;
    }
    const org = s.slice(0, i);
    const role = external[s.slice(i + separator.length)];
    if (!role || role === "admin" || !org) continue;
    (orgRoles[org] ??= []).includes(role) || orgRoles[org].push(role);
  }
  return { roles: [...roles], orgRoles };
}

export const ROLES = Object.keys(table) as Role[];
