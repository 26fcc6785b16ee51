// Fleet rules: selector, template (a device spec that may use template placeholders) and rollout policy.
import type { FleetJson } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { FieldViolation } from "../platform/errors.js";
import { validateDeviceSpec } from "../devices/device-validation.js";
import { labelKeyProblem, labelValueProblem } from "../platform/validation/names.js";
import {
  asArray,
  asObject,
  asString,
  childPath,
  isObject,
  oneOf,
  percentageProblem,
  validateLabels,
  validateObjectMeta,
  Violations,
} from "../platform/validation/rules.js";
import { quote } from "../../lib/quote.js";

/** A LabelSelector message: matchLabels and/or matchExpressions, at least one when present. */
export function validateLabelSelector(v: Violations, sel: JsonValue | undefined, path: string): void {
  const s = asObject(sel);
  const labels = asObject(s.matchLabels);
  const exprs = asArray(s.matchExpressions);
  if (Object.keys(labels).length === 0 && exprs.length === 0) v.add(path, "must have matchLabels or matchExpressions");
  validateLabels(v, labels, childPath(path, "matchLabels"));
  exprs.forEach((e, i) => {
    const p = childPath(childPath(path, "matchExpressions"), i);
    const x = asObject(e);
    const key = asString(x.key) ?? "";
    v.check(childPath(p, "key"), labelKeyProblem(key));
    const op = asString(x.operator);
    if (!op) v.add(childPath(p, "operator"), "is required");
    v.check(childPath(p, "operator"), oneOf(op, ["In", "NotIn", "Exists", "DoesNotExist"]));
    const values = asArray(x.values);
    if ((op === "In" || op === "NotIn") && values.length === 0) v.add(childPath(p, "values"), `must not be empty for ${op}`);
    if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) v.add(childPath(p, "values"), `must be empty for ${op}`);
    for (const [j, val] of values.entries()) v.check(childPath(childPath(p, "values"), j), labelValueProblem(String(val)));
  });
}

const durationRe = /^[1-9]\d*[smh]$/;

function validateRolloutPolicy(v: Violations, policy: JsonObject, path: string) {
  const selection = policy.deviceSelection;
  const budget = policy.disruptionBudget;
  if (selection === undefined && budget === undefined) v.add(path, "must set deviceSelection or disruptionBudget");
  if (isObject(selection)) {
    const sp = childPath(path, "deviceSelection");
    v.check(
      childPath(sp, "strategy"),
      asString(selection.strategy) === "BatchSequence" ? undefined : `must be "BatchSequence", got ${quote(selection.strategy ?? "")}`,
    );
    asArray(selection.sequence).forEach((b, i) => {
      const bp = childPath(childPath(sp, "sequence"), i);
      const batch = asObject(b);
      if (batch.selector !== undefined) validateLabelSelector(v, batch.selector, childPath(bp, "selector"));
      const limit = batch.limit;
      if (typeof limit === "number") {
        if (!Number.isInteger(limit) || limit < 1)
          v.add(childPath(bp, "limit"), `must be a whole number of devices (at least 1) or a percentage like "20%", got ${limit}`);
      } else if (typeof limit === "string") {
        v.check(childPath(bp, "limit"), percentageProblem(limit));
      } else if (limit !== undefined && limit !== null) {
        v.add(childPath(bp, "limit"), "must be a number of devices or a percentage string");
      }
      const threshold = asString(batch.successThreshold);
      if (threshold !== undefined) v.check(childPath(bp, "successThreshold"), percentageProblem(threshold));
    });
  }
  const threshold = asString(policy.successThreshold);
  if (threshold !== undefined) v.check(childPath(path, "successThreshold"), percentageProblem(threshold));
  const onFailure = asString(policy.onFailure);
  if (onFailure !== undefined) v.check(childPath(path, "onFailure"), oneOf(onFailure, ["suspend", "revert"]));
  const timeout = asString(policy.defaultUpdateTimeout);
  if (timeout !== undefined && !durationRe.test(timeout)) {
    v.add(childPath(path, "defaultUpdateTimeout"), `must be a duration like "30m" or "24h", got ${quote(timeout)}`);
  }
  if (isObject(budget)) {
    const bp = childPath(path, "disruptionBudget");
    const keys = asArray(budget.groupBy).map(String);
    for (const [i, k] of keys.entries()) v.check(childPath(childPath(bp, "groupBy"), i), labelKeyProblem(k));
    if (new Set(keys).size !== keys.length) v.add(childPath(bp, "groupBy"), "must not repeat a label key");
    if (budget.minAvailable === undefined && budget.maxUnavailable === undefined) v.add(bp, "must set minAvailable or maxUnavailable");
    for (const k of ["minAvailable", "maxUnavailable"]) {
      const n = budget[k];
      if (n !== undefined && !(typeof n === "number" && Number.isInteger(n) && n >= 1))
        v.add(childPath(bp, k), "must be a whole number of at least 1");
    }
  }
}

export function validateFleet(obj: FleetJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  if (spec.selector !== undefined) validateLabelSelector(v, spec.selector, "spec.selector");
  if (!isObject(spec.template)) v.add("spec.template", "is required");
  else {
    validateLabels(v, asObject(spec.template.metadata).labels, "spec.template.metadata.labels");
    v.list.push(...validateDeviceSpec(spec.template.spec, "spec.template.spec", { fleetTemplate: true }));
  }
  if (isObject(spec.rolloutPolicy)) validateRolloutPolicy(v, spec.rolloutPolicy, "spec.rolloutPolicy");
  return [...validateObjectMeta(obj.metadata), ...v.list];
}
