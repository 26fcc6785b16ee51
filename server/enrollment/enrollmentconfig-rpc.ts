// EnrollmentConfigService: the enrollment block of an agent's config.yaml. Minting a fresh credential goes through
// a CertificateSigningRequest resource, so every enrollment certificate ever issued is on record (and obeys the
// service's approval setting).
import { randomBytes } from "node:crypto";
import type { ConnectRouter } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { EnrollmentConfigSchema } from "../../gen/flightctl/v1beta1/enrollmentconfig_pb.js";
import { EnrollmentConfigService } from "../../gen/flightctl/v1beta1/enrollmentconfig_service_pb.js";
import { CertificateSigningRequestSchema } from "../../gen/flightctl/v1beta1/certificatesigningrequest_pb.js";
import { SIGNER_ENROLLMENT, canonicalSigner } from "../certificates/signers.js";
import { forbidden, precondition, invalid } from "../platform/errors.js";
import { callerOf, type UserIdentity } from "../platform/identity.js";
import { rolesIn } from "../auth/user-auth-interceptor.js";
import { allowed } from "../auth/rbac.js";
import { createCsr, generateDeviceKey } from "../../lib/csr.js";
import type { ServiceDeps } from "../app-deps.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");

export const enrollmentConfigRegistration = {
  service: EnrollmentConfigService,
  register(router: ConnectRouter, deps: ServiceDeps) {
    const csrs = deps.services.CertificateSigningRequest;
    router.service(EnrollmentConfigService, {
      async getEnrollmentConfig(req, ctx) {
        const caller = callerOf(ctx);
        let name = req.csr;
        let keyPem = "";
        if (!name) {
          // Minting a credential is creating a CSR: the caller needs that permission, not just read access.
          const user = caller.identity as UserIdentity;
          if (!allowed(rolesIn(user, caller.externalId ?? ""), "certificatesigningrequests", "create")) {
            throw forbidden(`${user.username} may not create certificatesigningrequests; pass csr=<name> of an approved enrollment CSR`);
          }
          // A fresh key and an enrollment CSR named after it, signed under the usual rules.
          const keys = await generateDeviceKey();
          name = `enrollment-${randomBytes(6).toString("hex")}`;
          keyPem = keys.keyPem;
          const csrPem = await createCsr(keys, name);
          await csrs.create(
            caller,
            create(CertificateSigningRequestSchema, {
              apiVersion: "flightctl.io/v1beta1",
              kind: "CertificateSigningRequest",
              metadata: { name },
              spec: { request: Buffer.from(csrPem).toString("base64"), signerName: SIGNER_ENROLLMENT, usages: ["clientAuth", "CA:false"] },
            }),
          );
        }
        const csr = await csrs.get(caller, name);
        if (canonicalSigner(csr.spec?.signerName ?? "") !== SIGNER_ENROLLMENT) {
          throw invalid({ field: "csr", message: `CertificateSigningRequest "${name}" is not for signer ${SIGNER_ENROLLMENT}` });
        }
        if (!csr.status?.certificate) {
          throw precondition(
            `CertificateSigningRequest "${name}" has no certificate yet (not approved); approve it, then ask again with csr=${name}`,
          );
        }
        return create(EnrollmentConfigSchema, {
          enrollmentService: {
            // Base64 of PEM, as flightctl's agent config expects.
            authentication: { clientCertificateData: csr.status.certificate, clientKeyData: keyPem && b64(keyPem) },
            service: { server: deps.kindDeps.agentEndpointUrl(), certificateAuthorityData: b64(deps.kindDeps.ca.bundlePem) },
            enrollmentUiEndpoint: deps.kindDeps.uiUrl,
          },
        });
      },
    });
  },
};
