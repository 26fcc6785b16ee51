// Failures no retry can fix by itself: the service's TLS certificate is not signed by the CA in the agent's
// configuration, or the service refuses the agent's own certificate. Both happen when a service is set up again
// with a new CA (a new data directory) and the agent still holds the old service's material; the agent logs them
// at error, on every retry, with what a person has to do.
import { Code, ConnectError } from "@connectrpc/connect";

export type TrustFailure = "server-untrusted" | "certificate-rejected";

const untrusted =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate|UNABLE_TO_VERIFY|SELF_SIGNED|DEPTH_ZERO|ERR_TLS_CERT_ALTNAME_INVALID|certificate has expired|CERT_HAS_EXPIRED/i;
const rejectedByServer =
  /alert (unknown ca|bad certificate|certificate unknown|certificate required|certificate revoked|certificate expired)/i;

/** All the messages of an error and its causes (Connect wraps Node's TLS errors). */
function messages(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e, depth = 0; c && depth < 5; c = (c as { cause?: unknown }).cause, depth++) {
    if (c instanceof Error) parts.push(c.message, String((c as { code?: unknown }).code ?? ""));
  }
  return parts.join(" ");
}

/** Which trust failure `e` is, if any. */
export function trustFailure(e: unknown): TrustFailure | undefined {
  // An answer from the service means the TLS handshake passed: it is the agent's certificate it refuses (its message
  // may quote its own verification error, e.g. DEPTH_ZERO_SELF_SIGNED_CERT).
  const code = e instanceof ConnectError ? e.code : ConnectError.from(e).code;
  if (code === Code.Unauthenticated || code === Code.PermissionDenied) return "certificate-rejected";
  const text = messages(e);
  if (rejectedByServer.test(text)) return "certificate-rejected";
  if (untrusted.test(text)) return "server-untrusted";
  return undefined;
}

/** What to do, for the log line. `which` names the certificate in use ("enrollment" or "management"). */
export function trustAdvice(f: TrustFailure, which: "enrollment" | "management", server: string, dataDir: string): string {
  if (f === "server-untrusted")
    return `the service at ${server} presents a certificate not signed by the CA in this agent's configuration (enrollment-service.service.certificate-authority-data): if the service was set up again, get its enrollment configuration anew ("flightctl enrollmentconfig") and put it in the agent's config`;
  return which === "enrollment"
    ? `the service at ${server} refuses this agent's enrollment certificate (it was issued by another service, or revoked): get a fresh enrollment configuration from this service ("flightctl enrollmentconfig")`
    : `the service at ${server} refuses this device's management certificate (issued by another service, or the device was removed): remove ${dataDir}/certs/agent.crt to enroll again, with a current enrollment configuration`;
}
