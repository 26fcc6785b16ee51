// EnrollmentRequest kind: a device asking to join. The request's name must be the fingerprint of the CSR's key and
// the CSR's common name (so nobody can enroll under another device's name). Approval signs the management
// certificate and creates the Device in one transaction; denial is final; a request whose device exists can be
// neither re-created nor deleted (flightctl's rules).
import { EnrollmentRequestListSchema, EnrollmentRequestSchema } from "../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import {
  EnrollmentRequestService,
  type ApproveEnrollmentRequestRequest,
  type DeleteEnrollmentRequestRequest,
} from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  EnrollmentRequestApprovalStatusSchema,
  type EnrollmentRequestApprovalStatusJson,
  type EnrollmentRequestJson,
  type EnrollmentRequestSpecJson,
  type EnrollmentRequestStatusJson,
} from "../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import type { DeviceStatusJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { enrollmentRequests } from "../../db/schema/resources.js";
import { issueClientCertificate, SIGNER_DEVICE_ENROLLMENT, DEVICE_CN_PREFIX } from "../certificates/signers.js";
import { enqueueRender, initialDeviceStatus, reselectOwner } from "../devices/device-service.js";
import { isTrue, setCondition } from "../platform/conditions.js";
import { conflict, invalid, notFound, precondition } from "../platform/errors.js";
import { callerOf, type Caller } from "../platform/identity.js";
import { CsrError, parseCsr } from "../../lib/csr.js";
import { defineKind } from "../platform/resource/kind.js";
import type { KindDeps } from "../app-deps.js";
import type { Db, Executor } from "../platform/db.js";
import { createResourceStore, type ResourceRecord } from "../platform/resource/resource-store.js";
import { createDeviceStore } from "../devices/device-store.js";
import { validateEnrollmentRequest } from "./enrollmentrequest-validation.js";
import { quote } from "../../lib/quote.js";

/** Set on devices enrolled with a known rendered version other than "0" (a re-enrollment after a restore). */
export const AWAITING_RECONNECT_ANNOTATION = "device-controller/awaitingReconnect";

/** The request's CSR, checked against its name; InvalidArgument naming the field otherwise. */
export async function checkedCsr(name: string, csrPem: string) {
  let csr: Awaited<ReturnType<typeof parseCsr>>;
  try {
    csr = await parseCsr(csrPem);
  } catch (e) {
    if (e instanceof CsrError) throw invalid({ field: "spec.csr", message: e.message });
    throw e;
  }
  if (csr.commonName !== name) {
    throw invalid({
      field: "spec.csr",
      message: `the CSR's common name must be the request's name "${name}", got ${quote(csr.commonName)}`,
    });
  }
  if (csr.fingerprint !== name && csr.legacyFingerprint !== name) {
    throw invalid({
      field: "metadata.name",
      message: `must be the fingerprint of the CSR's public key ("${csr.fingerprint}"), got ${quote(name)}`,
    });
  }
  return csr;
}

/** The EnrollmentRequest store on `db` (the database or a transaction). */
const requestsOf = (db: Executor) =>
  createResourceStore<EnrollmentRequestSpecJson, EnrollmentRequestStatusJson>(db, { kind: "EnrollmentRequest", table: enrollmentRequests });

async function refuseIfEnrolled(db: Db, orgId: string, name: string) {
  if (await createDeviceStore(db).exists({ orgId, name })) {
    throw precondition(`device "${name}" is already enrolled; delete the device first to enroll it again`);
  }
}

async function prepare(caller: Caller, request: EnrollmentRequestJson, deps: KindDeps) {
  const name = request.metadata?.name ?? "";
  const spec = request.spec ?? {};
  await checkedCsr(name, spec.csr ?? "");
  await refuseIfEnrolled(deps.db, caller.orgId, name);
  const known = spec.knownRenderedVersion;
  const annotations: Record<string, string> = known && known !== "0" ? { [AWAITING_RECONNECT_ANNOTATION]: "true" } : {};
  const status: EnrollmentRequestStatusJson = { conditions: [] };
  return { annotations, status };
}

/** The Device an approved request creates: agent labels merged with (or replaced by) the approver's. */
function deviceFromRequest(
  er: ResourceRecord<EnrollmentRequestSpecJson, EnrollmentRequestStatusJson>,
  approval: { labels: Record<string, string>; replaceLabels: boolean },
) {
  const spec: EnrollmentRequestSpecJson = er.spec ?? {};
  const reported: DeviceStatusJson = spec.deviceStatus ?? {};
  const labels = approval.replaceLabels ? { ...approval.labels } : { ...spec.labels, ...approval.labels };
  const status: DeviceStatusJson = {
    ...initialDeviceStatus(),
    ...reported,
    lifecycle: { status: "Enrolled" },
    integrity: { status: "Unsupported", deviceIdentity: { status: "Unsupported", info: "no TPM attestation was provided" } },
  };
  if (spec.osMode) status.capabilities = { ...reported.capabilities, osMode: spec.osMode };
  return { labels, annotations: er.annotations, owner: null, generation: 1, spec: null, status };
}

async function approve(deps: KindDeps, caller: Caller, name: string, approval: ApproveEnrollmentRequestRequest["approval"]) {
  const approved = approval?.approved;
  if (approved === undefined) throw invalid({ field: "approval.approved", message: "is required" });
  const er = await requestsOf(deps.db).get({ orgId: caller.orgId, name });
  if (!er) throw notFound("EnrollmentRequest", name);
  const status: EnrollmentRequestStatusJson = er.status ?? {};
  const conditions = status.conditions;
  if (isTrue(conditions, "Approved")) throw invalid({ field: "approval.approved", message: "the enrollment request is already approved" });
  if (isTrue(conditions, "Denied")) throw precondition(`EnrollmentRequest "${name}" was denied; delete it so the device can ask again`);
  const labels = { ...(approval?.labels ?? {}) };
  for (const [k, v] of Object.entries(labels))
    if (!k) throw invalid({ field: "approval.labels", message: `empty label key (value "${v}")` });
  const record = {
    approved,
    labels,
    replaceLabels: approval?.replaceLabels ?? false,
    approvedBy: caller.identity.username,
    approvedAt: new Date(),
  };
  const approvalJson: EnrollmentRequestApprovalStatusJson = { ...record, approvedAt: record.approvedAt.toISOString() };
  if (Object.keys(labels).length === 0) delete approvalJson.labels;
  let next: EnrollmentRequestStatusJson;
  let event: { reason: string; message: string };
  if (approved) {
    const csr = await checkedCsr(name, (er.spec as EnrollmentRequestSpecJson | null)?.csr ?? "");
    const { certPem } = await issueClientCertificate(deps.ca, {
      publicKey: csr.publicKey,
      subject: { commonName: DEVICE_CN_PREFIX + name, deviceFingerprint: name },
      signerName: SIGNER_DEVICE_ENROLLMENT,
      orgId: caller.orgId,
    });
    next = {
      ...status,
      certificate: certPem,
      approval: approvalJson,
      conditions: setCondition(conditions, {
        type: "Approved",
        status: "True",
        reason: "ManuallyApproved",
        message: `Approved by ${caller.identity.username}`,
      }),
    };
    event = { reason: "EnrollmentRequestApproved", message: `Enrollment request approved by ${caller.identity.username}.` };
  } else {
    next = {
      ...status,
      approval: approvalJson,
      conditions: setCondition(conditions, {
        type: "Denied",
        status: "True",
        reason: "ManuallyDenied",
        message: `Denied by ${caller.identity.username}`,
      }),
    };
    event = { reason: "ResourceUpdated", message: `Enrollment request denied by ${caller.identity.username}.` };
  }
  const erEvent = {
    ...event,
    type: "Normal" as const,
    actor: caller.identity.actor,
    involvedObject: { kind: "EnrollmentRequest", name },
    sourceComponent: "flightctl-api",
  };
  const writeRequest = async (db: Executor) => {
    const written = await requestsOf(db).update({ orgId: caller.orgId, name }, er.resourceVersion, { ...er, status: next }, erEvent);
    if (!written) throw conflict(`EnrollmentRequest "${name}" changed while it was being approved; try again`);
  };
  if (approved) {
    // Device and request change together: a failure leaves neither a device without a certificate nor the reverse.
    try {
      await createDeviceStore(deps.db).create(
        { orgId: caller.orgId, name },
        deviceFromRequest(er, record),
        {
          reason: "ResourceCreated",
          type: "Normal",
          message: "Device was created successfully.",
          actor: caller.identity.actor,
          involvedObject: { kind: "Device", name },
          sourceComponent: "flightctl-api",
        },
        async (tx) => {
          await writeRequest(tx);
          await enqueueRender(tx, caller.orgId, name);
          // Its labels (the agent's, its default-labels, the approver's) may put it in a fleet.
          await reselectOwner(tx, caller.orgId, name);
        },
      );
    } catch (e) {
      if ((e as { kind?: string }).kind === "alreadyExists")
        throw precondition(`device "${name}" already exists and cannot be overwritten by enrollment`);
      throw e;
    }
  } else {
    await writeRequest(deps.db);
  }
  return create(EnrollmentRequestApprovalStatusSchema, { ...record, approvedAt: timestampFromDate(record.approvedAt) });
}

export const enrollmentRequestKind = defineKind({
  kind: "EnrollmentRequest",
  service: EnrollmentRequestService,
  schema: EnrollmentRequestSchema,
  listSchema: EnrollmentRequestListSchema,
  table: enrollmentRequests,
  validate: (obj) => validateEnrollmentRequest(obj),
  beforeCreate: prepare,
  handlers: ({ standard, svc, deps }) => ({
    ...standard,
    approveEnrollmentRequest: (req: ApproveEnrollmentRequestRequest, ctx) => approve(deps, callerOf(ctx), req.name, req.approval),
    deleteEnrollmentRequest: async (req: DeleteEnrollmentRequestRequest, ctx) => {
      const caller = callerOf(ctx);
      // The request is the device's enrollment record; it goes only after the device.
      if (await createDeviceStore(deps.db).exists({ orgId: caller.orgId, name: req.name })) {
        throw precondition(`cannot delete EnrollmentRequest "${req.name}": device "${req.name}" exists`);
      }
      await svc.delete(caller, req.name);
      return {};
    },
  }),
});
