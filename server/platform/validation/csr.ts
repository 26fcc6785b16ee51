// CSR checks for validators: the synchronous part of the PKI's CSR parsing (proof of possession is checked when the
// CSR is used), with the same messages.
import { checkCsr, CsrError } from "../../../lib/csr.js";

/** Why `pem` is not a usable PEM CSR, or undefined when it passes. */
export function pemCsrProblem(pem: string): string | undefined {
  try {
    checkCsr(pem);
    return undefined;
  } catch (e) {
    if (e instanceof CsrError) return e.message;
    throw e;
  }
}
