// createApp(deps) builds everything the two endpoints serve, independent of how they are listened on: the user API
// (bearer tokens, RBAC) and the agent API (client certificates). main/ processes and tests share it.
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { createDb } from "./platform/db.js";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { AuthProvider } from "../gen/flightctl/v1beta1/authprovider_pb.js";
import { errorInterceptor } from "./platform/error-interceptor.js";
import { registerKind, type KindDefinition, type KindDeps } from "./platform/resource/kind.js";
import { createResourceStore, type Db } from "./platform/resource/resource-store.js";
import type { ResourceService } from "./platform/resource/resource-service.js";
import { userAuthInterceptor } from "./platform/user-auth-interceptor.js";
import { agentAuthInterceptor, createAgentGate } from "./platform/agent-auth-interceptor.js";
import type { RawServerStream } from "./platform/grpc-stream.js";
import { admissionInterceptor } from "./platform/admission.js";
import { createOrganizationStore, type OrganizationStore } from "./organizations/organization-store.js";
import { createMembership, type Membership } from "./organizations/membership.js";
import { deviceKind } from "./devices/device-service.js";
import { fleetKind } from "./fleets/fleet-service.js";
import { templateVersionKind } from "./templateversions/templateversion-service.js";
import { repositoryKind } from "./repositories/repository-service.js";
import { labelServiceRegistration } from "./devices/label-rpc.js";
import { enrollmentRequestKind } from "./enrollment/enrollmentrequest-service.js";
import { enrollmentConfigRegistration } from "./enrollment/enrollmentconfig-rpc.js";
import { certificateSigningRequestKind } from "./certificates/csr-service.js";
import { resourceSyncKind } from "./resourcesyncs/resourcesync-service.js";
import { authProviderKind, enabledProviders } from "./authproviders/authprovider-service.js";
import { authServiceRegistration } from "./auth/auth-rpc.js";
import { createAuthenticator, createProviderSource, type Authenticator } from "./auth/authenticator.js";
import { createAuthFetch, type FetchLike } from "./auth/http-client.js";
import { eventServiceRegistration } from "./events/event-rpc.js";
import { organizationServiceRegistration } from "./organizations/organization-rpc.js";
import { versionServiceRegistration } from "./version/version-rpc.js";
import { agentEnrollmentRegistration } from "./enrollment/agent-enrollment-rpc.js";
import { agentDeviceRawStreams, agentDeviceRegistration } from "./devices/agent-device-rpc.js";
import { agentCertificateRegistration } from "./certificates/agent-certificate-rpc.js";
import type { CertificateAuthority } from "./certificates/signers.js";
import type { DeviceAgentDeps } from "./devices/device-agent-service.js";
import { createHeartbeatWheel } from "./devices/heartbeat-wheel.js";
import { createWatch } from "./platform/watch/watch-rpc.js";
import type { Listen } from "./platform/watch/watch-hub.js";
import { memoryRelay, type ConsoleRelay } from "./console/console-relay.js";
import { createConsoleService, type ConsoleLimits } from "./console/console-service.js";
import { consoleServiceRegistration } from "./console/console-rpc.js";
import { agentConsoleRegistration } from "./console/agent-console-rpc.js";

export interface AppDeps {
  /** Shared Postgres pool (drizzle is built on it here). */
  pool: Pool;
  log: Logger;
  /** CA material for signing client certificates. */
  ca: CertificateAuthority;
  /** Agent endpoint URL given to agents (https://host:7443); a function when known only after listening. */
  agentEndpointUrl: string | (() => string);
  /** UI URL agents print for approval (default: none). */
  uiUrl?: string;
  /** Providers from the service configuration (e.g. the built-in PAM issuer). */
  staticAuthProviders?: AuthProvider[];
  /** Replaces token authentication (tests of resource semantics). */
  authenticator?: Authenticator;
  /** Outbound HTTP for auth (default: system CAs plus the service CA). */
  fetch?: FetchLike;
  /** Approve enrollment-signer CSRs from users at once (default true, as flightctl). */
  csrAutoApprove?: boolean;
  /** What the agent endpoint needs beyond the database (render notifications, lastSeen batching). */
  agent?: Omit<DeviceAgentDeps, "db" | "consoles">;
  /** Console relay (default in-process: one replica) and limits (default: consoleLimitsFromEnv's defaults). */
  console?: { relay?: ConsoleRelay; limits?: Partial<ConsoleLimits> };
  /** Watch streams: the process's LISTEN connection (without it they poll each second) and bookmark period. */
  watch?: { listen?: Listen; bookmarkMs?: number };
}

/** What one endpoint serves. */
export interface App {
  /** Registers every service implementation on a Connect router. */
  register(router: ConnectRouter): void;
  /** Interceptors the endpoint must install (innermost last); include auth and the error mapper. */
  interceptors: Interceptor[];
  /** Every service served, for health checking. */
  services: DescService[];
  /** Every proto file served, for server reflection. */
  files: DescFile[];
  /** Ends open streams and long-polls so a closing endpoint drains quickly. */
  drain?(): void;
  /** Server streams the endpoint serves below Connect for plain gRPC clients (Connect still serves the rest). */
  rawStreams?(): RawServerStream[];
}

/** Dependencies of non-kind user services. */
export interface ServiceDeps {
  db: Db;
  kindDeps: KindDeps;
  membership: Membership;
  orgStore: OrganizationStore;
  authenticator: Authenticator;
  /** The enabled authentication providers. */
  providers(): Promise<AuthProvider[]>;
  fetch: FetchLike;
}

/** Dependencies of agent-endpoint services. */
export interface AgentServiceDeps {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- services of different kinds
  services: Map<string, ResourceService<any>>;
  device: DeviceAgentDeps;
}

/** A non-resource service: its descriptor and how to register its handlers. */
interface ServiceRegistration<D> {
  service: DescService;
  register(router: ConnectRouter, deps: D): void;
}

/** The resource kinds served with the generic machinery (plus their own handlers), in registration order. */
export const kinds: KindDefinition[] = [
  deviceKind,
  fleetKind,
  templateVersionKind,
  repositoryKind,
  enrollmentRequestKind,
  certificateSigningRequestKind,
  resourceSyncKind,
  authProviderKind,
] as KindDefinition[];

/** Services that are not resource kinds. */
const others: ServiceRegistration<ServiceDeps>[] = [
  labelServiceRegistration,
  eventServiceRegistration,
  organizationServiceRegistration,
  authServiceRegistration,
  versionServiceRegistration,
  enrollmentConfigRegistration,
];

const agentServices: ServiceRegistration<AgentServiceDeps>[] = [
  agentEnrollmentRegistration,
  agentDeviceRegistration,
  agentCertificateRegistration,
];

export function createApp(deps: AppDeps): App & { agent: App } {
  const db = createDb(deps.pool);
  const orgStore = createOrganizationStore(db);
  const membership = createMembership(orgStore);
  const fetch = deps.fetch ?? createAuthFetch([deps.ca.bundlePem]);
  const providers = createProviderSource(deps.staticAuthProviders ?? [], enabledProviders(db));
  const authenticator = deps.authenticator ?? createAuthenticator({ providers, fetch });
  const kindDeps: KindDeps = {
    ca: deps.ca,
    csrAutoApprove: deps.csrAutoApprove ?? true,
    agentEndpointUrl: typeof deps.agentEndpointUrl === "string" ? () => deps.agentEndpointUrl as string : deps.agentEndpointUrl,
    uiUrl: deps.uiUrl ?? "",
    services: new Map(),
    db,
    watch: createWatch({ db, log: deps.log, listen: deps.watch?.listen, bookmarkMs: deps.watch?.bookmarkMs }),
  };
  const serviceDeps: ServiceDeps = { db, kindDeps, membership, orgStore, authenticator, providers, fetch };
  const consoles = createConsoleService({ db, relay: deps.console?.relay ?? memoryRelay(), log: deps.log, limits: deps.console?.limits });
  const onInternal = (err: unknown, procedure: string) => deps.log.error({ err, procedure }, "internal error");
  // Kinds register once; both endpoints' routers share the same services (registration order matters: approval
  // needs the Device kind).
  let built = false;
  const services: DescService[] = [...kinds.map((k) => k.service), ...others.map((r) => r.service), consoleServiceRegistration.service];
  const user: App = {
    register(router) {
      for (const kind of kinds) registerKind(router, kind, kindDeps);
      for (const r of others) r.register(router, serviceDeps);
      consoleServiceRegistration.register(router, { consoles, membership });
      built = true;
    },
    interceptors: [userAuthInterceptor((h) => authenticator.authenticate(h), membership), errorInterceptor(onInternal)],
    drain: () => kindDeps.watch?.drain(),
    services,
    files: services.map((s) => s.file),
  };
  const devices = createResourceStore(db, { kind: "Device", table: "devices" });
  // Every agent stream's heartbeats and drain, shared by the agent services.
  const gate = createAgentGate((orgId, name) => devices.exists({ orgId, name }));
  const wheel =
    deps.agent?.wheel ??
    createHeartbeatWheel(deps.agent?.heartbeatMs ?? 30_000, 30, (err) =>
      deps.log.error({ err }, "a rendered-device stream's heartbeat failed"),
    );
  const agent: App = {
    register(router) {
      if (!built) throw new Error("register the user API before the agent API: agent services use its kinds");
      if (!deps.agent) throw new Error("the agent API needs AppDeps.agent (render notifier, lastSeen recorder)");
      for (const r of agentServices)
        r.register(router, { services: kindDeps.services, device: { db, log: deps.log, ...deps.agent, wheel, consoles } });
      agentConsoleRegistration.register(router, { consoles });
    },
    drain: () => wheel.drain(),
    rawStreams() {
      if (!deps.agent) throw new Error("the agent API needs AppDeps.agent (render notifier, lastSeen recorder)");
      return agentDeviceRawStreams({ services: kindDeps.services, device: { db, log: deps.log, ...deps.agent, wheel, consoles } }, gate);
    },
    interceptors: [admissionInterceptor(), agentAuthInterceptor(gate), errorInterceptor(onInternal)],
    services: [...agentServices.map((s) => s.service), agentConsoleRegistration.service],
    files: [...agentServices.map((s) => s.service.file), agentConsoleRegistration.service.file],
  };
  return { ...user, agent };
}
