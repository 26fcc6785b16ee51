// Repository rules per type (git, http, oci), following flightctl.
import type { RepositoryJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import type { JsonObject } from "@bufbuild/protobuf";
import type { FieldViolation } from "../platform/errors.js";
import {
  asArray,
  asObject,
  asString,
  base64Problem,
  childPath,
  forbidden,
  isObject,
  oneOf,
  registryHostProblem,
  required,
  urlProblem,
  validateObjectMeta,
  Violations,
} from "../platform/validation/rules.js";
import { quote } from "../../lib/quote.js";

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function validateHttpConfig(v: Violations, c: JsonObject, path: string) {
  const has = (k: string) => asString(c[k]) !== undefined;
  if (has("username") !== has("password")) v.add(path, "username and password must be given together");
  if (has("tls.crt") !== has("tls.key")) v.add(path, "tls.crt and tls.key must be given together");
  for (const k of ["tls.crt", "tls.key", "ca.crt"]) if (has(k)) v.check(childPath(path, k), base64Problem(asString(c[k])!));
  const token = asString(c.token);
  if (token !== undefined && token !== "*****" && !jwtShape.test(token))
    v.add(childPath(path, "token"), "must be a JWT (three base64url parts)");
}

export function validateRepository(obj: RepositoryJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  const type = asString(spec.type);
  if (!type) v.add("spec.type", "is required");
  v.check("spec.type", oneOf(type, ["git", "http", "oci"]));
  const ociOnly = ["registry", "scheme", "accessMode", "ociAuth", "ca.crt", "skipServerVerification", "baseImages"];
  if (type === "git" || type === "http") {
    const url = required(v, spec, "url", "spec");
    if (url) {
      const ssh = url.startsWith("ssh://") || /^[\w.-]+@[\w.-]+:/.test(url);
      if (!(type === "git" && ssh)) v.check("spec.url", urlProblem(url));
    }
    forbidden(v, spec, ociOnly, "spec", `for type "${type}"`);
    if (isObject(spec.httpConfig)) validateHttpConfig(v, spec.httpConfig, "spec.httpConfig");
    if (type === "http") forbidden(v, spec, ["sshConfig"], "spec", 'for type "http"');
    if (type === "git" && spec.httpConfig !== undefined && spec.sshConfig !== undefined)
      v.add("spec", "must not set both httpConfig and sshConfig");
    if (type === "git") forbidden(v, spec, ["validationSuffix"], "spec", 'for type "git"');
    if (isObject(spec.sshConfig)) {
      const key = asString(spec.sshConfig.sshPrivateKey);
      if (key !== undefined && key !== "*****") v.check("spec.sshConfig.sshPrivateKey", base64Problem(key));
      if (spec.sshConfig.privateKeyPassphrase !== undefined && key === undefined) {
        v.add("spec.sshConfig.privateKeyPassphrase", "requires sshPrivateKey");
      }
    }
  }
  if (type === "oci") {
    const registry = required(v, spec, "registry", "spec");
    if (registry) v.check("spec.registry", registryHostProblem(registry));
    forbidden(v, spec, ["url", "httpConfig", "sshConfig", "validationSuffix"], "spec", 'for type "oci"');
    v.check("spec.scheme", oneOf(asString(spec.scheme), ["http", "https"]));
    v.check("spec.accessMode", oneOf(asString(spec.accessMode), ["Read", "ReadWrite"]));
    if (spec["ca.crt"] !== undefined) v.check('spec["ca.crt"]', base64Problem(String(spec["ca.crt"])));
    if (isObject(spec.ociAuth)) {
      const a = spec.ociAuth;
      v.check("spec.ociAuth.authType", asString(a.authType) === "docker" ? undefined : `must be "docker", got ${quote(a.authType ?? "")}`);
      required(v, a, "username", "spec.ociAuth");
      required(v, a, "password", "spec.ociAuth");
    }
    const names = new Set<string>();
    asArray(spec.baseImages).forEach((b, i) => {
      const p = childPath("spec.baseImages", i);
      const img = asObject(b);
      const name = required(v, img, "imageName", p);
      if (name && name.length > 255) v.add(childPath(p, "imageName"), "must be at most 255 characters");
      if (name && names.has(name)) v.add(childPath(p, "imageName"), `"${name}" is listed twice`);
      if (name) names.add(name);
      const tags = asArray(img.tags).map(String);
      if (tags.length === 0) v.add(childPath(p, "tags"), "must list at least one tag");
      tags.forEach((t, j) => {
        if (!/^[\w][\w.-]{0,127}$/.test(t)) v.add(childPath(childPath(p, "tags"), j), `is not a valid tag: "${t}"`);
      });
      if (new Set(tags).size !== tags.length) v.add(childPath(p, "tags"), "must not repeat a tag");
    });
  }
  return [...validateObjectMeta(obj.metadata), ...v.list];
}
