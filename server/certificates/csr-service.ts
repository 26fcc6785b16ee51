// CertificateSigningRequest kind: generic rules; signing and approval come with the identity work.
import {
  CertificateSigningRequestListSchema,
  CertificateSigningRequestSchema,
} from "../../gen/flightctl/v1beta1/certificatesigningrequest_pb.js";
import { CertificateSigningRequestService } from "../../gen/flightctl/v1beta1/certificatesigningrequest_service_pb.js";
import type { KindDefinition } from "../platform/resource/kind.js";
import { validateCertificateSigningRequest } from "./csr-validation.js";

export const certificateSigningRequestKind: KindDefinition<typeof CertificateSigningRequestSchema> = {
  kind: "CertificateSigningRequest",
  service: CertificateSigningRequestService,
  schema: CertificateSigningRequestSchema,
  listSchema: CertificateSigningRequestListSchema,
  table: "certificate_signing_requests",
  validate: (obj) => validateCertificateSigningRequest(obj),
};
