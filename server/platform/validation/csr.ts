// Parsing of PKCS#10 certificate signing requests (@peculiar/x509), for enrollment and CSR resources.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** Why `pem` is not a PEM CSR, or undefined when it parses. */
export function pemCsrProblem(pem: string): string | undefined {
  if (!/-----BEGIN CERTIFICATE REQUEST-----/.test(pem)) return "must be a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)";
  try {
    new x509.Pkcs10CertificateRequest(pem.replace(/[ \t]+$/gm, ""));
    return undefined;
  } catch (e) {
    return `is not a valid certificate request: ${e instanceof Error ? e.message : String(e)}`;
  }
}
