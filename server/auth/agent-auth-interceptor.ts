// The agent endpoint's gate: each RPC declares in the contract which certificate it needs
// (flightctl.agent.v1beta1.credential). The enrollment certificate may only enroll; a device management
// certificate may only act on its own device, and only while that device exists. Anything else is refused.
import { getOption, type DescMethod } from "@bufbuild/protobuf";
import { perMethod } from "../platform/method-options.js";
import type { Interceptor } from "@connectrpc/connect";
import { AgentCredential, credential, names_device } from "../../gen/flightctl/agent/v1beta1/access_pb.js";
import { DEVICE_CN_PREFIX, SIGNER_DEVICE_ENROLLMENT, SIGNER_ENROLLMENT, SIGNER_RENEWAL } from "../certificates/signers.js";
import { DomainError, forbidden, notFound, toConnectError, unauthenticated } from "../platform/errors.js";
import { callerKey, DEFAULT_ORG_ID, identityKey, type Caller } from "../platform/identity.js";
import { peerKey, releaseCertificate, type Peer } from "../platform/peer.js";
import { readCertIdentity, type CertIdentity } from "../platform/pki/identity.js";

/** Whether a device is (still) enrolled: the management certificate of a deleted device is worthless. */
export type DeviceExists = (orgId: string, name: string) => Promise<boolean>;

const MANAGEMENT_SIGNERS = new Set([SIGNER_DEVICE_ENROLLMENT, SIGNER_RENEWAL]);

/**
 * The device a management certificate (enrollment approval or renewal signer, CN "device:<name>") speaks for, or
 * undefined when `cert` is no management certificate. Shared by every endpoint devices call (agent API, telemetry).
 */
export function managementDeviceName(cert: CertIdentity): string | undefined {
  if (!MANAGEMENT_SIGNERS.has(cert.signerName ?? "") || !cert.commonName.startsWith(DEVICE_CN_PREFIX)) return undefined;
  return cert.commonName.slice(DEVICE_CN_PREFIX.length);
}

// A connection's peer is one object for all its calls (http-server.ts): its identity is read once, not hashed per call.
const identities = new WeakMap<Peer, CertIdentity>();

/** The identity of the certificate `peer` presented on `endpoint`; Unauthenticated without one the service CA issued. */
export function peerCertificate(peer: Peer, endpoint: string): CertIdentity {
  // Read (and so checked) before: the certificate itself is no longer kept.
  const known = identities.get(peer);
  if (known) return known;
  if (!peer.raw) throw unauthenticated(`a client certificate is required on ${endpoint}`);
  if (!peer.authorized)
    throw unauthenticated(`the client certificate was not accepted: ${peer.authorizationError ?? "not issued by this service"}`);
  const id = readCertIdentity(peer.cert ?? peer.raw);
  identities.set(peer, id);
  // Only needed until then: an idle connection keeps neither the DER nor its parse.
  releaseCertificate(peer);
  return id;
}

/** Who an agent-endpoint call is from, or why it is refused; `named` is the device the request names, if any. */
export type AgentGate = (method: DescMethod, peer: Peer, named?: string) => Promise<Caller>;

const credentialOf = perMethod((m) => getOption(m, credential));
const namesDevice = perMethod((m) => getOption(m, names_device));

/**
 * `selfChecked`: methods whose handler reads the device and answers NotFound itself when it is gone (status reports:
 * their batched read is the check; the rendered-device stream: its first read), so the gate does not ask Postgres
 * first — one statement and round trip less per call. Every other device call (renewals, the long-poll) is checked
 * here.
 */
export function createAgentGate(deviceExists: DeviceExists, selfChecked: ReadonlySet<DescMethod> = new Set()): AgentGate {
  // One Caller per device certificate, shared by its calls and streams (an agent holds two streams for hours: a Caller
  // of each, with its identity and strings, cost ≈ 0.3 KB a stream). Callers are never changed by their users.
  const deviceCallers = new WeakMap<CertIdentity, Caller>();
  return async (method, peer, named) => {
    const needs = credentialOf(method);
    const cert = peerCertificate(peer, "the agent endpoint");
    const orgId = cert.orgId ?? DEFAULT_ORG_ID;
    if (needs === AgentCredential.ENROLLMENT) {
      if (cert.signerName !== SIGNER_ENROLLMENT) throw forbidden(`${method.name} needs the enrollment certificate`);
      return { orgId, identity: { kind: "enrollment", actor: `enrollment:${cert.commonName}`, username: cert.commonName, orgId } };
    }
    if (needs === AgentCredential.DEVICE) {
      const deviceName = managementDeviceName(cert);
      if (deviceName === undefined) throw forbidden(`${method.name} needs a device management certificate`);
      if (named !== undefined && named !== deviceName) {
        throw forbidden(`device "${deviceName}" may only act on itself, not on "${named}"`);
      }
      // flightctl answers 404 here; the agent then drops its certificate and enrolls again.
      if (!selfChecked.has(method) && !(await deviceExists(orgId, deviceName))) throw notFound("Device", deviceName);
      let caller = deviceCallers.get(cert);
      if (!caller) {
        caller = { orgId, identity: { kind: "device", actor: `device:${deviceName}`, username: deviceName, deviceName, orgId } };
        deviceCallers.set(cert, caller);
      }
      return caller;
    }
    throw forbidden(`${method.parent.typeName}/${method.name} declares no credential`);
  };
}

export function agentAuthInterceptor(gate: AgentGate): Interceptor {
  return (next) => async (req) => {
    // Standard gRPC infrastructure (health, reflection) is public, as load balancers and tools expect.
    if (req.service.typeName.startsWith("grpc.")) return next(req);
    try {
      // Streams are checked by their handler (the interceptor sees no message).
      const named = namesDevice(req.method) && !req.stream ? (req.message as { name?: string }).name : undefined;
      const caller = await gate(req.method, req.contextValues.get(peerKey), named);
      req.contextValues.set(identityKey, caller.identity);
      req.contextValues.set(callerKey, caller);
    } catch (e) {
      throw e instanceof DomainError ? toConnectError(e) : e;
    }
    return next(req);
  };
}
