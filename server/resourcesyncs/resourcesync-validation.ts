// ResourceSync rules: which repository, revision and path to sync from.
import type { ResourceSyncJson } from "../../gen/flightctl/v1beta1/resourcesync_pb.js";
import type { FieldViolation } from "../platform/errors.js";
import { subdomainProblem } from "../platform/validation/names.js";
import { asObject, asString, oneOf, required, validateObjectMeta, Violations } from "../platform/validation/rules.js";
import { quote } from "../../lib/quote.js";

export function validateResourceSync(obj: ResourceSyncJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  const repo = required(v, spec, "repository", "spec");
  if (repo) v.check("spec.repository", subdomainProblem(repo));
  const rev = required(v, spec, "targetRevision", "spec");
  if (rev && (rev.length > 244 || !/^[A-Za-z0-9._/@{}^~-]+$/.test(rev) || rev.includes(".."))) {
    v.add("spec.targetRevision", `must be a branch, tag or commit of at most 244 characters, got ${quote(rev)}`);
  }
  const path = required(v, spec, "path", "spec");
  if (path && path.length > 2048) v.add("spec.path", "must be at most 2048 characters");
  if (path?.split("/").includes("..")) v.add("spec.path", `must stay inside the repository (no ".."), got ${quote(path)}`);
  v.check("spec.type", oneOf(asString(spec.type), ["fleet", "catalog"]));
  return [...validateObjectMeta(obj.metadata), ...v.list];
}
