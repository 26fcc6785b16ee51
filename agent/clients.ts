// Connect clients of the agent endpoint over one HTTP/2 connection (mTLS with the given certificate). Pings keep
// the long-lived stream alive through proxies and detect a dead server.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { ConnectSlots } from "./connect-slots.js";
import { AgentSessionManager } from "./session.js";
import { grpcBidi, grpcServerStream } from "./grpc-stream.js";
import { createStatusSender, type StatusSender } from "./status-stream.js";
import { AgentCertificateService } from "../gen/flightctl/agent/v1beta1/certificate_service_pb.js";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { AgentEnrollmentService } from "../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import { AgentConsoleService } from "../gen/flightctl/agent/v1beta1/console_service_pb.js";

export interface AgentClients {
  enrollment: ReturnType<typeof createClient<typeof AgentEnrollmentService>>;
  device: ReturnType<typeof createClient<typeof AgentDeviceService>>;
  certificates: ReturnType<typeof createClient<typeof AgentCertificateService>>;
  /** Console relay streams (agent/console.ts). */
  console: ReturnType<typeof createClient<typeof AgentConsoleService>>;
  /** Status reports, on one stream over this connection (status-stream.ts). */
  status: StatusSender;
  /** Resolves once connected (or the attempt failed): the connection every call here takes. */
  connected(): Promise<unknown>;
  close(): void;
}

export function connectAgent(server: string, caPem: string, certPem: string, keyPem: string, slots?: ConnectSlots): AgentClients {
  const sessions = new AgentSessionManager(server, { slots }, { ca: caPem, cert: certPem, key: keyPem });
  const transport = createGrpcTransport({ baseUrl: server, sessionManager: sessions });
  // The rendered-device and status streams go below Connect (grpc-stream.ts: Connect's per-message machinery was most
  // of an update's client-side cost); every other call, and the unary fallback for an older server, stays Connect's.
  const connectDevice = createClient(AgentDeviceService, transport);
  const device: AgentClients["device"] = {
    ...connectDevice,
    watchRenderedDevice: (request, options) =>
      grpcServerStream(sessions, AgentDeviceService.method.watchRenderedDevice, request, options?.signal),
  };
  const status = createStatusSender({
    streamDeviceStatus: (reports, options) => grpcBidi(sessions, AgentDeviceService.method.streamDeviceStatus, reports, options?.signal),
    replaceDeviceStatus: (report, options) => connectDevice.replaceDeviceStatus(report, options),
  });
  return {
    enrollment: createClient(AgentEnrollmentService, transport),
    device,
    certificates: createClient(AgentCertificateService, transport),
    console: createClient(AgentConsoleService, transport),
    status,
    connected: () => sessions.connect(),
    close: () => {
      status.close();
      sessions.abort();
    },
  };
}
