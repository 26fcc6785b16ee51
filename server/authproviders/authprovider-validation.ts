// AuthProvider rules: only oidc and oauth2 providers are managed through the API; required endpoints per type.
import type { AuthProviderJson } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import type { FieldViolation } from "../platform/errors.js";
import {
  asArray,
  asObject,
  asString,
  isObject,
  oneOf,
  required,
  urlProblem,
  validateObjectMeta,
  Violations,
} from "../platform/validation/rules.js";

export function validateAuthProvider(obj: AuthProviderJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  const type = required(v, spec, "providerType", "spec");
  if (type && type !== "oidc" && type !== "oauth2") {
    v.add("spec.providerType", `"${type}" providers come from the service configuration; the API manages "oidc" and "oauth2"`);
  }
  required(v, spec, "clientId", "spec");
  const urls = type === "oidc" ? ["issuer"] : type === "oauth2" ? ["authorizationUrl", "tokenUrl", "userinfoUrl"] : [];
  for (const k of urls) {
    const u = required(v, spec, k, "spec");
    if (u) v.check(`spec.${k}`, urlProblem(u));
  }
  if (type === "oauth2" && asString(spec.issuer)) v.check("spec.issuer", urlProblem(asString(spec.issuer)!));
  if (isObject(spec.organizationAssignment)) {
    const a = spec.organizationAssignment;
    const t = required(v, a, "type", "spec.organizationAssignment");
    v.check("spec.organizationAssignment.type", oneOf(t, ["static", "dynamic", "perUser"]));
    if (t === "static") required(v, a, "organizationName", "spec.organizationAssignment");
    if (t === "dynamic" && asArray(a.claimPath).length === 0) v.add("spec.organizationAssignment.claimPath", "must not be empty");
  }
  if (isObject(spec.roleAssignment)) {
    const r = spec.roleAssignment;
    const t = required(v, r, "type", "spec.roleAssignment");
    v.check("spec.roleAssignment.type", oneOf(t, ["static", "dynamic"]));
    if (t === "static" && asArray(r.roles).length === 0) v.add("spec.roleAssignment.roles", "must not be empty");
    if (t === "dynamic" && asArray(r.claimPath).length === 0) v.add("spec.roleAssignment.claimPath", "must not be empty");
  }
  if (isObject(spec.introspection)) {
    const i = spec.introspection;
    const t = required(v, i, "type", "spec.introspection");
    v.check("spec.introspection.type", oneOf(t, ["rfc7662", "github", "jwt"]));
    if (t === "rfc7662") {
      const u = required(v, i, "url", "spec.introspection");
      if (u) v.check("spec.introspection.url", urlProblem(u));
    }
    if (t === "jwt") {
      const u = required(v, i, "jwksUrl", "spec.introspection");
      if (u) v.check("spec.introspection.jwksUrl", urlProblem(u));
    }
  }
  return [...validateObjectMeta(obj.metadata), ...v.list];
}
