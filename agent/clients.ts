// Connect clients of the agent endpoint over one HTTP/2 connection (mTLS with the given certificate). Pings keep
// the long-lived stream alive through proxies and detect a dead server.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { AgentCertificateService } from "../gen/flightctl/agent/v1beta1/certificate_service_pb.js";
import { AgentDeviceService } from "../gen/flightctl/agent/v1beta1/device_service_pb.js";
import { AgentEnrollmentService } from "../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";

export interface AgentClients {
  enrollment: ReturnType<typeof createClient<typeof AgentEnrollmentService>>;
  device: ReturnType<typeof createClient<typeof AgentDeviceService>>;
  certificates: ReturnType<typeof createClient<typeof AgentCertificateService>>;
  close(): void;
}

/**
 * Connect's session manager can destroy a connection (a PING timeout on a busy host) after it has removed its own
 * 'error' listener, and an 'error' without listeners ends the process. Every session gets a listener of its own;
 * the streams on it still fail, and the agent reconnects.
 */
class GuardedSessionManager extends Http2SessionManager {
  private readonly guarded = new WeakSet<object>();
  override async request(...args: Parameters<Http2SessionManager["request"]>) {
    const stream = await super.request(...args);
    const session = stream.session;
    if (session && !this.guarded.has(session)) {
      this.guarded.add(session);
      session.on("error", () => {});
    }
    return stream;
  }
}

export function connectAgent(server: string, caPem: string, certPem: string, keyPem: string): AgentClients {
  const sessions = new GuardedSessionManager(server, { pingIntervalMs: 45_000, pingTimeoutMs: 15_000, idleConnectionTimeoutMs: 15 * 60_000 }, { ca: caPem, cert: certPem, key: keyPem });
  const transport = createGrpcTransport({ baseUrl: server, sessionManager: sessions });
  return {
    enrollment: createClient(AgentEnrollmentService, transport),
    device: createClient(AgentDeviceService, transport),
    certificates: createClient(AgentCertificateService, transport),
    close: () => sessions.abort(),
  };
}
