// Connect clients of the agent endpoint over one HTTP/2 connection (mTLS with the given certificate). Pings keep
// the long-lived stream alive through proxies and detect a dead server.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { ConnectSlots } from "./connect-slots.js";
import { AgentSessionManager } from "./session.js";
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
  close(): void;
}

export function connectAgent(server: string, caPem: string, certPem: string, keyPem: string, slots?: ConnectSlots): AgentClients {
  const sessions = new AgentSessionManager(server, { slots }, { ca: caPem, cert: certPem, key: keyPem });
  const transport = createGrpcTransport({ baseUrl: server, sessionManager: sessions });
  const device = createClient(AgentDeviceService, transport);
  const status = createStatusSender(device);
  return {
    enrollment: createClient(AgentEnrollmentService, transport),
    device,
    certificates: createClient(AgentCertificateService, transport),
    console: createClient(AgentConsoleService, transport),
    status,
    close: () => {
      status.close();
      sessions.abort();
    },
  };
}
