// CertificateSigningRequest kind: generic rules plus signing. A request is checked against its signer's policy
// before it is stored; enrollment-signer requests from users are approved and signed at once (flightctl), unless
// the service is configured for manual approval; device requests (renewal, service certificates) arrive over the
// agent endpoint and are signed at once. Approve/Deny decide pending ones.
import { certificateSigningRequests } from "../../db/schema/resources.js";
import {
  CertificateSigningRequestListSchema,
  CertificateSigningRequestSchema,
  type CertificateSigningRequestJson,
  type CertificateSigningRequestSpecJson as CsrSpec,
  type CertificateSigningRequestStatusJson as CsrStatus,
} from "../../gen/flightctl/v1beta1/certificatesigningrequest_pb.js";
import type { ConditionJson } from "../../gen/flightctl/v1beta1/meta_pb.js";
import {
  CertificateSigningRequestService,
  type ApproveCertificateSigningRequestRequest,
  type DenyCertificateSigningRequestRequest,
  type UpdateCertificateSigningRequestApprovalRequest,
} from "../../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js";
import { isTrue, setCondition } from "../platform/conditions.js";
import { invalid, precondition } from "../platform/errors.js";
import { callerOf, type Caller } from "../platform/identity.js";
import { CsrError, parseCsr } from "../../lib/csr.js";
import { defineKind } from "../platform/resource/kind.js";
import type { KindDeps } from "../app-deps.js";
import type { ResourceRecord } from "../platform/resource/resource-store.js";
import { validateCertificateSigningRequest } from "./csr-validation.js";
import { canonicalSigner, decideSubject, issueClientCertificate, SIGNER_ENROLLMENT, type CertificateAuthority } from "./signers.js";

/** The CSR inside a spec (base64 of PEM), parsed; InvalidArgument on spec.request otherwise. */
async function csrOf(spec: CsrSpec) {
  try {
    return await parseCsr(Buffer.from(spec.request ?? "", "base64").toString("utf8"));
  } catch (e) {
    if (e instanceof CsrError) throw invalid({ field: "spec.request", message: e.message });
    throw e;
  }
}

/** Signs a stored or about-to-be-stored request; returns its new status. */
async function sign(
  ca: CertificateAuthority,
  spec: CsrSpec,
  name: string,
  caller: Caller,
  conditions: ConditionJson[] | undefined,
  reason: string,
  message: string,
): Promise<CsrStatus> {
  const csr = await csrOf(spec);
  const signerName = canonicalSigner(spec.signerName ?? "");
  const subject = decideSubject(signerName, csr.commonName, name, caller.identity);
  const { certPem } = await issueClientCertificate(ca, {
    publicKey: csr.publicKey,
    subject,
    signerName,
    orgId: caller.orgId,
    validitySeconds: spec.expirationSeconds,
  });
  return {
    certificate: Buffer.from(certPem).toString("base64"),
    conditions: setCondition(conditions, { type: "Approved", status: "True", reason, message }),
  };
}

/** Service-set parts of a new CSR: requester, owner, and the certificate when approved at once. */
async function prepare(caller: Caller, request: CertificateSigningRequestJson, deps: KindDeps) {
  // The spec as stored: the service adds the requester to it.
  const spec = request.spec ?? {};
  const name = request.metadata?.name ?? "";
  const csr = await csrOf(spec);
  // Refuses what the caller may not ask for before anything is stored.
  decideSubject(canonicalSigner(spec.signerName ?? ""), csr.commonName, name, caller.identity);
  spec.username = caller.identity.username;
  if (caller.identity.kind === "user") spec.uid = caller.identity.uid;
  const owner = caller.identity.kind === "device" ? `Device/${caller.identity.deviceName}` : null;
  const automatic =
    caller.identity.kind === "device" || (canonicalSigner(spec.signerName ?? "") === SIGNER_ENROLLMENT && deps.csrAutoApprove);
  const status = automatic ? await sign(deps.ca, spec, name, caller, [], "AutoApproved", "Approved automatically") : { conditions: [] };
  return { owner, status };
}

function decide(deps: KindDeps, caller: Caller, approve: boolean, reason: string) {
  return async (r: ResourceRecord<CsrSpec, CsrStatus>): Promise<CsrStatus | undefined> => {
    const status: CsrStatus = r.status ?? {};
    const conditions = status.conditions;
    if (isTrue(conditions, "Denied") || isTrue(conditions, "Failed")) {
      if (!approve) return undefined;
      throw precondition(`CertificateSigningRequest "${r.name}" was denied; create a new request`);
    }
    if (isTrue(conditions, "Approved")) {
      if (approve) return undefined;
      throw precondition(`CertificateSigningRequest "${r.name}" is already approved and its certificate issued`);
    }
    if (!approve) {
      const message = `Denied by ${caller.identity.username}${reason ? `: ${reason}` : ""}`;
      return { ...status, conditions: setCondition(conditions, { type: "Denied", status: "True", reason: "Denied", message }) };
    }
    // The requester's identity is not at hand any more; the approver vouches for the request under the same signer rules.
    return sign(deps.ca, r.spec ?? {}, r.name, caller, conditions, "ManuallyApproved", `Approved by ${caller.identity.username}`);
  };
}

export const certificateSigningRequestKind = defineKind({
  kind: "CertificateSigningRequest",
  service: CertificateSigningRequestService,
  schema: CertificateSigningRequestSchema,
  listSchema: CertificateSigningRequestListSchema,
  table: certificateSigningRequests,
  validate: (obj) => validateCertificateSigningRequest(obj),
  beforeCreate: prepare,
  handlers: ({ standard, svc, store, deps }) => {
    // Signing is async, so it runs outside the compare-and-swap callback; a write that raced is decided again.
    async function write(caller: Caller, name: string, approve: boolean, reason: string) {
      for (let attempt = 0; attempt < 5; attempt++) {
        const current = await store.get({ orgId: caller.orgId, name });
        if (!current) return svc.get(caller, name);
        const next = await decide(deps, caller, approve, reason)(current);
        if (next === undefined) return svc.toMessage(current);
        let raced = false;
        const written = await svc.writeStatus(
          caller,
          name,
          (r) => {
            if (r.resourceVersion === current.resourceVersion) return next;
            raced = true;
            return undefined;
          },
          {
            reason: "ResourceUpdated",
            message: `CertificateSigningRequest was ${approve ? "approved" : "denied"} by ${caller.identity.username}.`,
          },
        );
        if (!raced) return written;
      }
      throw precondition(`CertificateSigningRequest "${name}" keeps changing; try again`);
    }
    return {
      ...standard,
      approveCertificateSigningRequest: (req: ApproveCertificateSigningRequestRequest, ctx) => write(callerOf(ctx), req.name, true, ""),
      denyCertificateSigningRequest: (req: DenyCertificateSigningRequestRequest, ctx) => write(callerOf(ctx), req.name, false, req.reason),
      // flightctl's one approval call: the decision is the condition the caller set.
      updateCertificateSigningRequestApproval: (req: UpdateCertificateSigningRequestApprovalRequest, ctx) => {
        const conditions = req.certificateSigningRequest?.status?.conditions ?? [];
        const decided = conditions.find((c) => (c.type === "Approved" || c.type === "Denied") && c.status === "True");
        if (!decided) {
          throw invalid({ field: "status.conditions", message: 'needs an "Approved" or a "Denied" condition with status "True"' });
        }
        return write(callerOf(ctx), req.name, decided.type === "Approved", decided.reason || decided.message || "");
      },
    };
  },
});
