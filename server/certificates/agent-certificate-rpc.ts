// Agent endpoint, management certificate: renewal and service-certificate requests of the device itself.
import type { ConnectRouter } from "@connectrpc/connect";
import { AgentCertificateService } from "../../gen/flightctl/agent/v1beta1/certificate_service_pb.js";
import { invalid, notFound } from "../platform/errors.js";
import { callerOf } from "../platform/identity.js";
import type { AgentServiceDeps } from "../app-deps.js";

export const agentCertificateRegistration = {
  service: AgentCertificateService,
  register(router: ConnectRouter, deps: AgentServiceDeps) {
    const csrs = deps.services.CertificateSigningRequest;
    router.service(AgentCertificateService, {
      async createCertificateSigningRequest(req, ctx) {
        if (!req.certificateSigningRequest) throw invalid({ field: "certificateSigningRequest", message: "is required" });
        return csrs.create(callerOf(ctx), req.certificateSigningRequest);
      },
      async getCertificateSigningRequest(req, ctx) {
        const caller = callerOf(ctx);
        const csr = await csrs.get(caller, req.name);
        // Another device's request reads as absent.
        if (caller.identity.kind !== "device" || csr.metadata?.owner !== `Device/${caller.identity.deviceName}`) {
          throw notFound("CertificateSigningRequest", req.name);
        }
        return csr;
      },
    });
  },
};
