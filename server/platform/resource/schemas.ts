// Message schema of every resource kind, by kind name: decoding flightctl documents (CLI apply, tests).
import type { DescMessage } from "@bufbuild/protobuf";
import { AuthProviderSchema } from "../../../gen/flightctl/v1beta1/authprovider_pb.js";
import { CertificateSigningRequestSchema } from "../../../gen/flightctl/v1beta1/certificatesigningrequest_pb.js";
import { DeviceSchema } from "../../../gen/flightctl/v1beta1/device_pb.js";
import { EnrollmentRequestSchema } from "../../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import { EventSchema } from "../../../gen/flightctl/v1beta1/event_pb.js";
import { FleetSchema } from "../../../gen/flightctl/v1beta1/fleet_pb.js";
import { OrganizationSchema } from "../../../gen/flightctl/v1beta1/organization_pb.js";
import { RepositorySchema } from "../../../gen/flightctl/v1beta1/repository_pb.js";
import { ResourceSyncSchema } from "../../../gen/flightctl/v1beta1/resourcesync_pb.js";
import { TemplateVersionSchema } from "../../../gen/flightctl/v1beta1/templateversion_pb.js";

export const resourceSchemas: Record<string, DescMessage> = {
  AuthProvider: AuthProviderSchema,
  CertificateSigningRequest: CertificateSigningRequestSchema,
  Device: DeviceSchema,
  EnrollmentRequest: EnrollmentRequestSchema,
  Event: EventSchema,
  Fleet: FleetSchema,
  Organization: OrganizationSchema,
  Repository: RepositorySchema,
  ResourceSync: ResourceSyncSchema,
  TemplateVersion: TemplateVersionSchema,
};
