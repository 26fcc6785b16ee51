// Token claims → who the user is in Flight Control, per the provider's configuration (flightctl's username claim,
// organization assignment and role assignment).
import type { JWTPayload } from "jose";
import type { AuthProviderSpec } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import type { UserIdentity } from "../platform/identity.js";
import { mapRoles } from "./rbac.js";

/** The claim at `path` (["realm_access", "roles"]), or undefined. */
export function claimAt(claims: Record<string, unknown>, path: readonly string[]): unknown {
  let v: unknown = claims;
  for (const key of path) {
    if (!v || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** Strings from a claim: a string, a list of strings, or (flightctl's organization claim) an object's keys. */
function strings(v: unknown): string[] {
  if (typeof v === "string") return v ? [v] : [];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === "string" && x !== "");
  if (v && typeof v === "object") return Object.keys(v);
  return [];
}

function organizationsOf(spec: AuthProviderSpec, claims: Record<string, unknown>, username: string): string[] {
  const a = spec.organizationAssignment;
  switch (a?.type) {
    case "static":
      return [a.organizationName ?? "default"];
    case "dynamic":
      return strings(claimAt(claims, a.claimPath)).map((n) => `${a.organizationNamePrefix ?? ""}${n}${a.organizationNameSuffix ?? ""}`);
    case "perUser":
      return [`${a.organizationNamePrefix ?? "user-org-"}${username}${a.organizationNameSuffix ?? ""}`];
    default:
      return ["default"];
  }
}

function rolesOf(spec: AuthProviderSpec, claims: Record<string, unknown>): { raw: string[]; separator: string } {
  const a = spec.roleAssignment;
  if (a?.type === "static") return { raw: [...a.roles], separator: ":" };
  const path = a?.type === "dynamic" && a.claimPath.length > 0 ? a.claimPath : ["roles"];
  return { raw: strings(claimAt(claims, path)), separator: a?.separator || ":" };
}

/** Maps verified claims to a user identity; Error when the username claim is missing. */
export function identityFromClaims(spec: AuthProviderSpec, claims: JWTPayload): UserIdentity {
  const c = claims as Record<string, unknown>;
  const usernamePath = spec.usernameClaim.length > 0 ? spec.usernameClaim : ["preferred_username"];
  const named = claimAt(c, usernamePath);
  const username = typeof named === "string" && named ? named : typeof c.sub === "string" ? c.sub : "";
  if (!username) throw new Error(`the token has no ${usernamePath.join(".")} or sub claim`);
  const { raw, separator } = rolesOf(spec, c);
  const { roles, orgRoles } = mapRoles(raw, separator);
  return {
    kind: "user",
    actor: `user:${username}`,
    username,
    uid: typeof c.sub === "string" ? c.sub : username,
    ...(typeof c.name === "string" ? { displayName: c.name } : {}),
    issuer: typeof c.iss === "string" ? c.iss : (spec.issuer ?? ""),
    roles,
    orgRoles,
    organizations: [...new Set(organizationsOf(spec, c, username))],
    superAdmin: roles.includes("admin"),
    rawRoles: raw,
  };
}
