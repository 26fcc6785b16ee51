// CertificateSigningRequests on the user API with manual approval configured: pending requests carry no
// certificate, approval signs, denial is final, and enrollment config waits for approval. Also the requester
// fields the service fills in and the usages check.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { CertificateSigningRequestService } from "../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js";
import { EnrollmentConfigService } from "../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { createCsr, generateDeviceKey } from "../lib/csr.js";
import { readCertIdentity } from "../server/platform/pki/identity.js";

let t: TestApp;
before(async () => (t = await startTestApp({ csrAutoApprove: false })));
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

async function request(name: string, usages = ["clientAuth", "CA:false"]) {
  const keys = await generateDeviceKey();
  return createClient(CertificateSigningRequestService, t.transport).createCertificateSigningRequest({
    certificateSigningRequest: {
      apiVersion: "v1beta1",
      kind: "CertificateSigningRequest",
      metadata: { name },
      spec: {
        request: Buffer.from(await createCsr(keys, name)).toString("base64"),
        signerName: "enrollment",
        usages,
        expirationSeconds: 3600,
      },
    },
  });
}

const code = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => ConnectError.from(e).code,
  );

test("a pending request has no certificate until approved; approval signs with the requested lifetime", async () => {
  const csrs = createClient(CertificateSigningRequestService, t.transport);
  const created = await request("boot-1");
  assert.equal(created.status?.certificate ?? "", "");
  assert.equal(created.spec?.username, "admin");
  assert.equal(
    await code(createClient(EnrollmentConfigService, t.transport).getEnrollmentConfig({ csr: "boot-1" })),
    Code.FailedPrecondition,
  );

  const approved = await csrs.approveCertificateSigningRequest({ name: "boot-1" });
  assert.ok(approved.status?.conditions.some((c) => c.type === "Approved" && c.status === "True" && c.message === "Approved by admin"));
  const cert = Buffer.from(approved.status!.certificate!, "base64").toString();
  const id = readCertIdentity(cert);
  assert.equal(id.commonName, "client-enrollment-boot-1");
  assert.equal(id.signerName, "flightctl.io/enrollment");
  assert.ok(id.notAfter.getTime() - Date.now() < 2 * 3600 * 1000);

  // Approving again changes nothing; denying an approved request is refused.
  assert.equal((await csrs.approveCertificateSigningRequest({ name: "boot-1" })).status?.certificate, approved.status?.certificate);
  assert.equal(await code(csrs.denyCertificateSigningRequest({ name: "boot-1", reason: "late" })), Code.FailedPrecondition);

  const cfg = await createClient(EnrollmentConfigService, t.transport).getEnrollmentConfig({ csr: "boot-1" });
  assert.equal(cfg.enrollmentService?.authentication?.clientCertificateData, approved.status?.certificate);
  assert.equal(cfg.enrollmentService?.authentication?.clientKeyData ?? "", "");
  assert.equal(cfg.enrollmentService?.service?.server, "https://localhost:7443");
});

test("denial is final and says who and why", async () => {
  const csrs = createClient(CertificateSigningRequestService, t.transport);
  await request("boot-2");
  const denied = await csrs.denyCertificateSigningRequest({ name: "boot-2", reason: "unknown site" });
  const c = denied.status?.conditions.find((x) => x.type === "Denied");
  assert.equal(c?.message, "Denied by admin: unknown site");
  assert.equal(await code(csrs.approveCertificateSigningRequest({ name: "boot-2" })), Code.FailedPrecondition);
  assert.equal(await code(csrs.approveCertificateSigningRequest({ name: "absent" })), Code.NotFound);
});

test("usages without clientAuth and a CN that is not the resource's name are refused, naming the field", async () => {
  await assert.rejects(
    request("boot-3", ["serverAuth"]),
    (e: ConnectError) => e.code === Code.InvalidArgument && /spec\.usages: must include "clientAuth"/.test(e.rawMessage),
  );
  const keys = await generateDeviceKey();
  await assert.rejects(
    createClient(CertificateSigningRequestService, t.transport).createCertificateSigningRequest({
      certificateSigningRequest: {
        apiVersion: "v1beta1",
        kind: "CertificateSigningRequest",
        metadata: { name: "boot-4" },
        spec: {
          request: Buffer.from(await createCsr(keys, "someone-else")).toString("base64"),
          signerName: "enrollment",
          usages: ["clientAuth", "CA:false"],
        },
      },
    }),
    (e: ConnectError) => e.code === Code.InvalidArgument && /spec\.request: the CSR's common name must be "boot-4"/.test(e.rawMessage),
  );
  // Nothing was stored by the refused requests.
  const list = await createClient(CertificateSigningRequestService, t.transport).listCertificateSigningRequests({});
  assert.deepEqual(
    list.items.map((x) => x.metadata?.name).filter((n) => n === "boot-3" || n === "boot-4"),
    [],
  );
});
