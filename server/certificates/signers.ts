// Signer policy: who may ask which signer for which subject, and the certificate each signer issues. flightctl's
// rules: enrollment (bootstrap) certificates for users, management certificates only through enrollment approval,
// renewal and service certificates only for the device itself.
import type * as x509 from "@peculiar/x509";
import { invalid, forbidden } from "../platform/errors.js";
import type { Identity } from "../platform/identity.js";
import type { KeyPair } from "../platform/pki/ca.js";
import { signClientCertificate } from "../platform/pki/signer.js";
import { quote } from "../../lib/quote.js";

export const SIGNER_ENROLLMENT = "flightctl.io/enrollment";
export const SIGNER_DEVICE_ENROLLMENT = "flightctl.io/device-enrollment";
export const SIGNER_RENEWAL = "flightctl.io/device-management-renewal";
export const SIGNER_SVC_CLIENT = "flightctl.io/device-svc-client";
export const SIGNER_SERVER_SVC = "flightctl.io/server-svc";

export const DEVICE_CN_PREFIX = "device:";
export const ENROLLMENT_CN_PREFIX = "client-enrollment-";
/** Default lifetime of every client certificate (flightctl: 365 days). */
export const DEFAULT_VALIDITY_SECONDS = 365 * 24 * 3600;

/** Short names flightctl accepts for a signer. */
export const canonicalSigner = (name: string) => (name === "enrollment" ? SIGNER_ENROLLMENT : name);

/** The CA material signing client certificates, and the bundle clients trust. */
export interface CertificateAuthority {
  clientSigner: KeyPair;
  /** PEM bundle: root CA + client signer. */
  bundlePem: string;
}

/** What a certificate will say, decided before the request is stored. */
export interface SubjectDecision {
  commonName: string;
  deviceFingerprint?: string;
}

/**
 * Checks a CSR resource request: `caller` asks `signerName` for a certificate for `csrCommonName` in a resource named
 * `resourceName`. Returns the certificate's subject, or throws (InvalidArgument naming the field, PermissionDenied).
 */
export function decideSubject(signerName: string, csrCommonName: string, resourceName: string, caller: Identity): SubjectDecision {
  switch (signerName) {
    case SIGNER_ENROLLMENT: {
      if (caller.kind !== "user") throw forbidden(`only users may request ${SIGNER_ENROLLMENT} certificates`);
      const cn = csrCommonName.startsWith(ENROLLMENT_CN_PREFIX) ? csrCommonName : ENROLLMENT_CN_PREFIX + csrCommonName;
      if (cn !== ENROLLMENT_CN_PREFIX + resourceName) {
        throw invalid({
          field: "spec.request",
          message: `the CSR's common name must be "${resourceName}" (the resource's name), got ${quote(csrCommonName)}`,
        });
      }
      return { commonName: cn };
    }
    case SIGNER_DEVICE_ENROLLMENT:
      throw invalid({
        field: "spec.signerName",
        message: `${SIGNER_DEVICE_ENROLLMENT} is used only when an EnrollmentRequest is approved`,
      });
    case SIGNER_RENEWAL: {
      if (caller.kind !== "device") throw forbidden(`only a device may request ${SIGNER_RENEWAL} certificates, over the agent endpoint`);
      const name = csrCommonName.startsWith(DEVICE_CN_PREFIX) ? csrCommonName.slice(DEVICE_CN_PREFIX.length) : csrCommonName;
      if (name !== caller.deviceName) {
        throw invalid({
          field: "spec.request",
          message: `the CSR's common name must be the calling device's name "${caller.deviceName}", got ${quote(csrCommonName)}`,
        });
      }
      return { commonName: DEVICE_CN_PREFIX + name, deviceFingerprint: name };
    }
    case SIGNER_SVC_CLIENT: {
      if (caller.kind !== "device") throw forbidden(`only a device may request ${SIGNER_SVC_CLIENT} certificates, over the agent endpoint`);
      if (!csrCommonName.endsWith(`-${caller.deviceName}`)) {
        throw invalid({
          field: "spec.request",
          message: `the CSR's common name must end with "-${caller.deviceName}", got ${quote(csrCommonName)}`,
        });
      }
      return { commonName: csrCommonName, deviceFingerprint: caller.deviceName };
    }
    case SIGNER_SERVER_SVC:
      throw invalid({
        field: "spec.signerName",
        message: `${SIGNER_SERVER_SVC} is not available through the API: server certificates come from the service's own PKI`,
      });
    default:
      throw invalid({ field: "spec.signerName", message: `unknown signer "${signerName}"` });
  }
}

/** Issues a client certificate from the client signer; returns its PEM and expiry. */
export async function issueClientCertificate(
  ca: CertificateAuthority,
  req: { publicKey: x509.PublicKey | CryptoKey; subject: SubjectDecision; signerName: string; orgId: string; validitySeconds?: number },
): Promise<{ certPem: string; notAfter: Date }> {
  const { certPem, notAfter } = await signClientCertificate(ca.clientSigner, {
    publicKey: req.publicKey,
    commonName: req.subject.commonName,
    signerName: req.signerName,
    orgId: req.orgId,
    deviceFingerprint: req.subject.deviceFingerprint,
    validitySeconds: req.validitySeconds ?? DEFAULT_VALIDITY_SECONDS,
  });
  return { certPem, notAfter };
}
