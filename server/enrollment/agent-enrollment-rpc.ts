// Agent endpoint, enrollment certificate: submit and poll an enrollment request.
import type { ConnectRouter } from "@connectrpc/connect";
import { AgentEnrollmentService } from "../../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import { invalid } from "../platform/errors.js";
import { callerOf } from "../platform/identity.js";
import type { AgentServiceDeps } from "../app-deps.js";

export const agentEnrollmentRegistration = {
  service: AgentEnrollmentService,
  register(router: ConnectRouter, deps: AgentServiceDeps) {
    const ers = deps.services.EnrollmentRequest;
    router.service(AgentEnrollmentService, {
      async createEnrollmentRequest(req, ctx) {
        if (!req.enrollmentRequest) throw invalid({ field: "enrollmentRequest", message: "is required" });
        return ers.create(callerOf(ctx), req.enrollmentRequest);
      },
      getEnrollmentRequest: (req, ctx) => ers.get(callerOf(ctx), req.name),
    });
  },
};
