// Who sends telemetry: the device named by the client certificate, and nothing the payload says. Two certificates
// speak for a device: its management certificate (as on the agent endpoint) and a flightctl.io/device-svc-client
// certificate the agent requested for its telemetry (CN "<anything>-<device>", the device fingerprint extension equal
// to that suffix, as flightctl's gateway checks). Enrollment certificates and any other signer are refused.
import { managementDeviceName, peerCertificate } from "../auth/agent-auth-interceptor.js";
import { SIGNER_ENROLLMENT, SIGNER_SVC_CLIENT } from "../certificates/signers.js";
import { forbidden } from "../platform/errors.js";
import { DEFAULT_ORG_ID } from "../platform/identity.js";
import type { Peer } from "../platform/peer.js";
import type { CertIdentity } from "../platform/pki/identity.js";
import { quote } from "../../lib/quote.js";
import type { DeviceDirectory } from "./device-directory.js";

/** The device a telemetry request is from: these become the device_id, org_id and fleet labels. */
export interface TelemetryDevice {
  orgId: string;
  deviceName: string;
  fleet?: string;
}

/** The device a service-client certificate was issued to, or undefined when `cert` is no valid one. */
function svcClientDeviceName(cert: CertIdentity): string | undefined {
  if (cert.signerName !== SIGNER_SVC_CLIENT || !cert.deviceFingerprint) return undefined;
  return cert.commonName.endsWith(`-${cert.deviceFingerprint}`) ? cert.deviceFingerprint : undefined;
}

/** Resolves a request's TLS peer to the device it speaks for, or throws (Unauthenticated / PermissionDenied). */
export type TelemetryGate = (peer: Peer) => Promise<TelemetryDevice>;

export function createTelemetryGate(directory: DeviceDirectory): TelemetryGate {
  return async (peer) => {
    const cert = peerCertificate(peer, "the telemetry gateway");
    const deviceName = managementDeviceName(cert) ?? svcClientDeviceName(cert);
    if (deviceName === undefined) {
      if (cert.signerName === SIGNER_ENROLLMENT) {
        throw forbidden("an enrollment certificate cannot send telemetry: use the device's management or device-svc-client certificate");
      }
      throw forbidden(
        `the telemetry gateway accepts a device management or ${SIGNER_SVC_CLIENT} certificate, got one from signer ${quote(cert.signerName ?? "(none)")}`,
      );
    }
    const orgId = cert.orgId ?? DEFAULT_ORG_ID;
    const entry = await directory.lookup(orgId, deviceName);
    if (!entry) throw forbidden(`device ${quote(deviceName)} is not enrolled in organization ${orgId}`);
    return { orgId, deviceName, fleet: entry.fleet };
  };
}
