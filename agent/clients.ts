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
    type State = { t: string; conn?: unknown; isShuttingDown?(): boolean };
    const self = this as unknown as { s: State; setState(state: State): void };
    const setState = self.setState.bind(this);
    const live = (conn: unknown) => !!conn && !(conn as { closed?: boolean }).closed && !(conn as { destroyed?: boolean }).destroyed;
    self.setState = (state) => {
      if (state.conn instanceof Promise) state.conn.then(guard, () => {});
      else guard(state.conn);
      // Every connection attempt becomes "ready" when it connects, also one that a newer attempt has replaced (a
      // verify racing an error on a loaded host): the later one would take over and the first stay open, unused
      // but for the streams already on it, with its keep-alive stopped. Seen as 1.5-2 connections per agent with
      // 10,000 simulated agents, up to the file descriptor limit. The first ready connection wins; a later one is
      // closed before anything uses it.
      const current = self.s;
      if (state.t === "ready" && current?.t === "ready" && current.conn !== state.conn && live(current.conn) && !current.isShuttingDown?.()) {
        (state.conn as { destroy(): void }).destroy();
        return;
      }
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
