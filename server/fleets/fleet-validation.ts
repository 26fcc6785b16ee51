// TEMPORARY stub (lead): replaced by the validation helper's rules.
import type { JsonObject } from "@bufbuild/protobuf";
import type { FieldViolation } from "../platform/errors.js";
import { subdomainProblem } from "../platform/validation/names.js";

export function validateFleet(obj: JsonObject): FieldViolation[] {
  const name = ((obj.metadata ?? {}) as JsonObject).name;
  const p = typeof name === "string" ? subdomainProblem(name) : "is required";
  return p ? [{ field: "metadata.name", message: p }] : [];
}
