// EnrollmentRequest kind: generic rules with the status subresource. Approval and the agent-side flow come with
// the identity work; an approved request is an audit record that stays.
import { EnrollmentRequestListSchema, EnrollmentRequestSchema } from "../../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import type { KindDefinition } from "../platform/resource/kind.js";
import { validateEnrollmentRequest } from "./enrollmentrequest-validation.js";

export const enrollmentRequestKind: KindDefinition<typeof EnrollmentRequestSchema> = {
  kind: "EnrollmentRequest",
  service: EnrollmentRequestService,
  schema: EnrollmentRequestSchema,
  listSchema: EnrollmentRequestListSchema,
  table: "enrollment_requests",
  validate: (obj) => validateEnrollmentRequest(obj),
};
