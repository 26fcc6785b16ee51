// EnrollmentRequest rules: a parseable CSR, valid labels and OS mode.
import type { EnrollmentRequestJson } from "../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import type { FieldViolation } from "../platform/errors.js";
import { pemCsrProblem } from "../platform/validation/csr.js";
import { asObject, asString, oneOf, required, validateLabels, validateObjectMeta, Violations } from "../platform/validation/rules.js";
import { quote } from "../../lib/quote.js";

export function validateEnrollmentRequest(obj: EnrollmentRequestJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  const csr = required(v, spec, "csr", "spec");
  if (csr) v.check("spec.csr", pemCsrProblem(csr));
  validateLabels(v, spec.labels, "spec.labels");
  v.check("spec.osMode", oneOf(asString(spec.osMode), ["image", "package"]));
  const known = asString(spec.knownRenderedVersion);
  if (known !== undefined && !/^\d+$/.test(known))
    v.add("spec.knownRenderedVersion", `must be a rendered version number, got ${quote(known)}`);
  return [...validateObjectMeta(obj.metadata), ...v.list];
}
