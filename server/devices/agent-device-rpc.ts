// Agent endpoint, management certificate: the device reports its own status.
import type { ConnectRouter } from "@connectrpc/connect";
import { AgentDeviceService } from "../../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { invalid } from "../platform/errors.js";
import { callerOf } from "../platform/identity.js";
import { patchOps } from "../platform/resource/resource-rpc.js";
import type { AgentServiceDeps } from "../app.js";
import type { ResourceService } from "../platform/resource/resource-service.js";
import type { DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";

export const agentDeviceRegistration = {
  service: AgentDeviceService,
  register(router: ConnectRouter, deps: AgentServiceDeps) {
    const devices = deps.services.get("Device") as ResourceService<typeof DeviceSchema>;
    router.service(AgentDeviceService, {
      async replaceDeviceStatus(req, ctx) {
        if (!req.device) throw invalid({ field: "device", message: "is required" });
        return devices.replaceStatus(callerOf(ctx), req.name, req.device);
      },
      patchDeviceStatus: (req, ctx) => devices.patchStatus(callerOf(ctx), req.name, patchOps(req.patch)),
    });
  },
};
