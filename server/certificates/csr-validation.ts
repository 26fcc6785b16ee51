// CertificateSigningRequest rules: a base64 PEM CSR, a known signer, client-auth usages.
import type { CertificateSigningRequestJson } from "../../gen/flightctl/v1beta1/certificatesigningrequest_pb.js";
import type { FieldViolation } from "../platform/errors.js";
import { pemCsrProblem } from "../platform/validation/csr.js";
import { asArray, asObject, base64Problem, required, validateObjectMeta, Violations } from "../platform/validation/rules.js";
import { quote } from "../../lib/quote.js";

export const SIGNERS = [
  "flightctl.io/enrollment",
  "flightctl.io/device-enrollment",
  "flightctl.io/device-management-renewal",
  "flightctl.io/device-svc-client",
  "flightctl.io/server-svc",
];
/** Short names flightctl accepts for a signer. */
export const SIGNER_ALIASES: Record<string, string> = { enrollment: "flightctl.io/enrollment" };

export function validateCertificateSigningRequest(obj: CertificateSigningRequestJson): FieldViolation[] {
  const v = new Violations();
  const spec = asObject(obj.spec);
  const request = required(v, spec, "request", "spec");
  if (request) {
    const b64 = base64Problem(request);
    if (b64) v.add("spec.request", b64);
    else v.check("spec.request", pemCsrProblem(Buffer.from(request, "base64").toString("utf8")));
  }
  const signer = required(v, spec, "signerName", "spec");
  if (signer === "ca") v.add("spec.signerName", 'the "ca" signer is no longer supported; use "flightctl.io/enrollment"');
  else if (signer && !SIGNERS.includes(SIGNER_ALIASES[signer] ?? signer))
    v.add("spec.signerName", `must be one of ${SIGNERS.join(", ")}, got ${quote(signer)}`);
  const usages = asArray(spec.usages).map(String);
  for (const u of ["clientAuth", "CA:false"]) if (!usages.includes(u)) v.add("spec.usages", `must include "${u}"`);
  const exp = spec.expirationSeconds;
  if (exp !== undefined && !(typeof exp === "number" && exp >= 600)) v.add("spec.expirationSeconds", "must be at least 600 seconds");
  for (const [k, val] of Object.entries(asObject(spec.extra))) {
    if (!Array.isArray(val) || !val.every((x) => typeof x === "string")) v.add(`spec.extra.${k}`, "must be a list of strings");
  }
  return [...validateObjectMeta(obj.metadata), ...v.list];
}
