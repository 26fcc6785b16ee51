// Connect clients of the agent endpoint over one HTTP/2 connection (mTLS with the given certificate). Pings keep
// the long-lived stream alive through proxies and detect a dead server.
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
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
  close(): void;
}

/**
 * Connect's session manager can drop its own 'error' listener from a connection that later fails (a PING timeout or
 * a reset on a busy host), and an 'error' without listeners ends the process. Every connection it takes into use
 * gets a listener of its own (the calls on it still fail, and the agent reconnects). The manager exposes no hook,
 * so its state changes are observed.
 */
export class GuardedSessionManager extends Http2SessionManager {
  constructor(...args: ConstructorParameters<typeof Http2SessionManager>) {
    super(...args);
    const guarded = new WeakSet<object>();
    const guard = (conn: unknown) => {
      if (conn && typeof conn === "object" && "on" in conn && !guarded.has(conn)) {
        guarded.add(conn);
        (conn as { on(e: string, f: () => void): void }).on("error", () => {});
      }
    };
    const self = this as unknown as { setState(state: { conn?: unknown }): void };
    const setState = self.setState.bind(this);
    self.setState = (state) => {
      if (state.conn instanceof Promise) state.conn.then(guard, () => {});
      else guard(state.conn);
      setState(state);
    };
  }
}

export function connectAgent(server: string, caPem: string, certPem: string, keyPem: string): AgentClients {
  const sessions = new GuardedSessionManager(server, { pingIntervalMs: 45_000, pingTimeoutMs: 15_000, idleConnectionTimeoutMs: 15 * 60_000 }, { ca: caPem, cert: certPem, key: keyPem });
  const transport = createGrpcTransport({ baseUrl: server, sessionManager: sessions });
  return {
    enrollment: createClient(AgentEnrollmentService, transport),
    device: createClient(AgentDeviceService, transport),
    certificates: createClient(AgentCertificateService, transport),
    console: createClient(AgentConsoleService, transport),
    close: () => sessions.abort(),
  };
}
