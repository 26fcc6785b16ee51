// createApp(deps) builds everything the two endpoints serve, independent of how they are listened on: the user API
// (bearer tokens, RBAC) and the agent API (client certificates). main/ processes and tests share it.
import type { ConnectRouter } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { createDb } from "./platform/db.js";
import type { Pool } from "pg";
import type { Logger } from "pino";
import type { AuthProvider } from "../gen/flightctl/v1beta1/authprovider_pb.js";
import { errorInterceptor } from "./platform/error-interceptor.js";
import { buildKind, type AnyKindDefinition } from "./platform/resource/kind.js";
import type { App } from "./platform/endpoint.js";
import type { AgentServiceDeps, KindDeps, KindServices, ServiceDeps } from "./app-deps.js";
import { userAuthInterceptor } from "./auth/user-auth-interceptor.js";
import { agentAuthInterceptor, createAgentGate } from "./auth/agent-auth-interceptor.js";
import { admissionInterceptor } from "./platform/admission.js";
import type { RateLimitSettings } from "./config.js";
import type { TokenPolicy } from "./auth/token-policy.js";
import { trustedProxies } from "./platform/client-ip.js";
import { createLimiter } from "./platform/rate-limit.js";
import type { Identity } from "./platform/identity.js";
import type { Peer } from "./platform/peer.js";
import { clientIpInterceptor, identityLimitInterceptor, ipLimitInterceptor, takeIdentity } from "./platform/rate-limit-interceptor.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { AgentEnrollmentService } from "../gen/flightctl/agent/v1beta1/enrollment_service_pb.js";
import { AuthService } from "../gen/flightctl/v1beta1/auth_service_pb.js";
import { createOrganizationStore } from "./organizations/organization-store.js";
import { createMembership } from "./organizations/membership.js";
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
import { metricsServiceRegistration } from "./charts/metrics-rpc.js";
import { alertServiceRegistration } from "./alertmanager/alert-rpc.js";
import { agentEnrollmentRegistration } from "./enrollment/agent-enrollment-rpc.js";
import { AGENT_METHODS_READING_DEVICE, agentDeviceRawStreams, agentDeviceRegistration } from "./devices/agent-device-rpc.js";
import { agentCertificateRegistration } from "./certificates/agent-certificate-rpc.js";
import type { CertificateAuthority } from "./certificates/signers.js";
import type { DeviceAgentDeps } from "./devices/device-agent-service.js";
import { createHeartbeatWheel } from "./devices/heartbeat-wheel.js";
import { deviceExistence } from "./devices/device-exists-store.js";
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
  /** Console relay (default in-process: one replica) and limits (default: DEFAULT_CONSOLE_LIMITS). */
  console?: { relay?: ConsoleRelay; limits?: Partial<ConsoleLimits> };
  /** Watch streams: the process's LISTEN connection (without it they poll each second) and bookmark period. */
  watch?: { listen?: Listen; bookmarkMs?: number };
  /** The git commit the build came from, shown by VersionService. */
  gitCommit?: string;
  /** Prometheus HTTP API base URL for MetricsService (default: none, its RPCs answer FailedPrecondition). */
  prometheusUrl?: string;
  /** Alertmanager's base URL for AlertService (default: none, its RPCs answer FailedPrecondition). */
  alertmanagerUrl?: string;
  /** What bearer tokens must satisfy (default DEFAULT_TOKEN_POLICY). */
  tokenPolicy?: TokenPolicy;
  /** Request limits (default none: the processes pass server/config.ts's, which are on). */
  rateLimits?: RateLimitSettings;
}

export type { App } from "./platform/endpoint.js";

/** A non-resource service: its descriptor and how to register its handlers. */
interface ServiceRegistration<D> {
  service: DescService;
  register(router: ConnectRouter, deps: D): void;
}

/** The resource kinds served with the generic machinery (plus their own handlers). */
export const kinds: readonly AnyKindDefinition[] = [
  deviceKind,
  fleetKind,
  templateVersionKind,
  repositoryKind,
  enrollmentRequestKind,
  certificateSigningRequestKind,
  resourceSyncKind,
  authProviderKind,
];

/** Builds every kind once: store, service, and how to serve it; the typed record of their services comes with it. */
function buildKinds(deps: KindDeps) {
  const built = {
    Device: buildKind(deviceKind, deps),
    Fleet: buildKind(fleetKind, deps),
    TemplateVersion: buildKind(templateVersionKind, deps),
    Repository: buildKind(repositoryKind, deps),
    EnrollmentRequest: buildKind(enrollmentRequestKind, deps),
    CertificateSigningRequest: buildKind(certificateSigningRequestKind, deps),
    ResourceSync: buildKind(resourceSyncKind, deps),
    AuthProvider: buildKind(authProviderKind, deps),
  };
  const services: KindServices = {
    Device: built.Device.svc,
    Fleet: built.Fleet.svc,
    TemplateVersion: built.TemplateVersion.svc,
    Repository: built.Repository.svc,
    EnrollmentRequest: built.EnrollmentRequest.svc,
    CertificateSigningRequest: built.CertificateSigningRequest.svc,
    ResourceSync: built.ResourceSync.svc,
    AuthProvider: built.AuthProvider.svc,
  };
  return {
    services,
    serve(router: ConnectRouter) {
      for (const k of Object.values(built)) k.serve(router);
    },
  };
}

/** Services that are not resource kinds. */
const others: ServiceRegistration<ServiceDeps>[] = [
  labelServiceRegistration,
  eventServiceRegistration,
  organizationServiceRegistration,
  authServiceRegistration,
  versionServiceRegistration,
  enrollmentConfigRegistration,
  metricsServiceRegistration,
  alertServiceRegistration,
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
  const authenticator = deps.authenticator ?? createAuthenticator({ providers, fetch, policy: deps.tokenPolicy });
  const limits = deps.rateLimits ?? { trustedProxies: [] };
  const proxies = trustedProxies(limits.trustedProxies);
  // One count per process for each limit, shared by the endpoints (an address enrolling on both counts once).
  const enrollments = createLimiter(limits.enrollmentPerIp);
  const enrollmentPolls = createLimiter(limits.enrollmentPollsPerIp);
  const kindDeps: KindDeps = {
    ca: deps.ca,
    csrAutoApprove: deps.csrAutoApprove ?? true,
    agentEndpointUrl: typeof deps.agentEndpointUrl === "string" ? () => deps.agentEndpointUrl as string : deps.agentEndpointUrl,
    uiUrl: deps.uiUrl ?? "",
    db,
    watch: createWatch({ db, log: deps.log, listen: deps.watch?.listen, bookmarkMs: deps.watch?.bookmarkMs }),
  };
  const built = buildKinds(kindDeps);
  const serviceDeps: ServiceDeps = {
    db,
    kindDeps,
    services: built.services,
    membership,
    orgStore,
    authenticator,
    providers,
    fetch,
    gitCommit: deps.gitCommit,
    prometheusUrl: deps.prometheusUrl,
    alertmanagerUrl: deps.alertmanagerUrl,
  };
  const consoles = createConsoleService({ db, relay: deps.console?.relay ?? memoryRelay(), log: deps.log, limits: deps.console?.limits });
  const onInternal = (err: unknown, procedure: string) => deps.log.error({ err, procedure }, "internal error");
  // Kinds are built once; both endpoints' routers share the same services.
  const services: DescService[] = [...kinds.map((k) => k.service), ...others.map((r) => r.service), consoleServiceRegistration.service];
  const user: App = {
    register(router) {
      built.serve(router);
      for (const r of others) r.register(router, serviceDeps);
      consoleServiceRegistration.register(router, { consoles, membership });
    },
    // The error mapper outermost: what the auth and limit interceptors throw (a database down while resolving the
    // caller, a rate limit) is mapped and logged like any other error, not turned into an unlogged "internal error".
    interceptors: [
      errorInterceptor(onInternal),
      clientIpInterceptor(proxies),
      ipLimitInterceptor(enrollments, (m) => m === EnrollmentRequestService.method.createEnrollmentRequest),
      // The public token exchange relays to a provider's token endpoint: the same limit as the PAM issuer's.
      ipLimitInterceptor(createLimiter(limits.authPerIp), (m) => m === AuthService.method.exchangeToken),
      userAuthInterceptor((h) => authenticator.authenticate(h), membership),
      identityLimitInterceptor(createLimiter(limits.perUser)),
    ],
    drain: () => kindDeps.watch?.drain(),
    services,
    files: services.map((s) => s.file),
  };
  // Every agent stream's heartbeats and drain, shared by the agent services.
  const gate = createAgentGate(deviceExistence(db), new Set(AGENT_METHODS_READING_DEVICE));
  const wheel =
    deps.agent?.wheel ??
    createHeartbeatWheel(deps.agent?.heartbeatMs ?? 30_000, 30, (err) =>
      deps.log.error({ err }, "a rendered-device stream's heartbeat failed"),
    );
  // One per-device limit for unary calls and the reports on status streams.
  const perDevice = createLimiter(limits.perDevice);
  const limitReport = (identity: Identity, peer: Peer) => takeIdentity(perDevice, identity, peer);
  // What the agent services are built with, for Connect's router and for the raw streams alike.
  const agentDeps = () => {
    if (!deps.agent) throw new Error("the agent API needs AppDeps.agent (render notifier, lastSeen recorder)");
    return { services: built.services, device: { db, log: deps.log, ...deps.agent, wheel, consoles }, limitReport };
  };
  const agent: App = {
    register(router) {
      const services = agentDeps();
      for (const r of agentServices) r.register(router, services);
      agentConsoleRegistration.register(router, { consoles });
    },
    drain: () => wheel.drain(),
    rawStreams: () => agentDeviceRawStreams(agentDeps(), gate),
    interceptors: [
      errorInterceptor(onInternal),
      // Per-IP limits before the queue, so a flood from one address never takes queue places from the fleet.
      clientIpInterceptor(proxies),
      ipLimitInterceptor(enrollments, (m) => m === AgentEnrollmentService.method.createEnrollmentRequest),
      ipLimitInterceptor(enrollmentPolls, (m) => m === AgentEnrollmentService.method.getEnrollmentRequest),
      admissionInterceptor(),
      agentAuthInterceptor(gate),
      identityLimitInterceptor(perDevice),
    ],
    services: [...agentServices.map((s) => s.service), agentConsoleRegistration.service],
    files: [...agentServices.map((s) => s.service.file), agentConsoleRegistration.service.file],
  };
  return { ...user, agent };
}
