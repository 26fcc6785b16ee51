// The device's telemetry certificate: a flightctl.io/device-svc-client certificate (CN "otel-<device>", as flightctl)
// requested with a CSR over the agent endpoint, which signs device requests at once. It is kept beside the management
// certificate (<data dir>/certs/telemetry.crt, 0600), signed for the device key, and requested again under the same
// rule as the management certificate's renewal (less than 75 % of its lifetime left). Telemetry then does not depend on
// the management certificate, and a gateway can be given only what telemetry needs.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createCsr } from "../lib/csr.js";
import type { AgentClients } from "./clients.js";
import { type Identity, renewalDue } from "./identity.js";

export const SIGNER_SVC_CLIENT = "flightctl.io/device-svc-client";

const certFile = (id: Identity) => join(id.certsDir, "telemetry.crt");

/** The held telemetry certificate when it is not due for renewal. */
export function currentSvcClientCert(id: Identity, now = Date.now()): string | undefined {
  if (!existsSync(certFile(id))) return undefined;
  const pem = readFileSync(certFile(id), "utf8");
  try {
    return renewalDue(pem, now) ? undefined : pem;
  } catch {
    return undefined; // unreadable: request a new one
  }
}

/** Requests a new telemetry certificate and keeps it; throws what the service said when it did not issue one. */
export async function requestSvcClientCert(clients: AgentClients, id: Identity): Promise<string> {
  const request = Buffer.from(await createCsr(await id.keys(), `otel-${id.name}`)).toString("base64");
  const csr = await clients.certificates.createCertificateSigningRequest({
    certificateSigningRequest: {
      apiVersion: "flightctl.io/v1beta1",
      kind: "CertificateSigningRequest",
      metadata: { name: `otel-${id.name.slice(0, 20)}-${Date.now().toString(36)}` },
      spec: { request, signerName: SIGNER_SVC_CLIENT, usages: ["clientAuth", "CA:false"] },
    },
  });
  if (!csr.status?.certificate) throw new Error(`the service did not issue a ${SIGNER_SVC_CLIENT} certificate at once`);
  const pem = Buffer.from(csr.status.certificate, "base64").toString("utf8");
  writeFileSync(certFile(id), pem, { mode: 0o600 });
  return pem;
}
