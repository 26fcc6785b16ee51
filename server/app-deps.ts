// The dependencies createApp (app.ts) hands to kinds and services: declared here, apart from app.ts, so the modules
// that receive them need not import the module that builds them.
import type { AuthProvider } from "../gen/flightctl/v1beta1/authprovider_pb.js";
import type { AuthProviderListSchema, AuthProviderSchema } from "../gen/flightctl/v1beta1/authprovider_pb.js";
import type {
  CertificateSigningRequestListSchema,
  CertificateSigningRequestSchema,
} from "../gen/flightctl/v1beta1/certificatesigningrequest_pb.js";
import type { DeviceListSchema, DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import type { EnrollmentRequestListSchema, EnrollmentRequestSchema } from "../gen/flightctl/v1beta1/enrollmentrequest_pb.js";
import type { FleetListSchema, FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import type { RepositoryListSchema, RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import type { ResourceSyncListSchema, ResourceSyncSchema } from "../gen/flightctl/v1beta1/resourcesync_pb.js";
import type { TemplateVersionListSchema, TemplateVersionSchema } from "../gen/flightctl/v1beta1/templateversion_pb.js";
import type { Authenticator } from "./auth/authenticator.js";
import type { FetchLike } from "./auth/http-client.js";
import type { CertificateAuthority } from "./certificates/signers.js";
import type { DeviceAgentDeps } from "./devices/device-agent-service.js";
import type { Identity } from "./platform/identity.js";
import type { Peer } from "./platform/peer.js";
import type { Membership } from "./organizations/membership.js";
import type { OrganizationStore } from "./organizations/organization-store.js";
import type { KindPlatformDeps } from "./platform/resource/kind.js";
import type { ResourceService } from "./platform/resource/resource-service.js";

/** What kinds may need beyond their own store: the CA and settings (plus the platform's database and watches). */
export interface KindDeps extends KindPlatformDeps {
  ca: CertificateAuthority;
  /** Whether enrollment-signer CSRs from users are approved at once (flightctl: yes). */
  csrAutoApprove: boolean;
  /** Agent endpoint URL handed to agents in enrollment config. */
  agentEndpointUrl(): string;
  /** UI URL agents print for approval. */
  uiUrl: string;
}

/** The service of every resource kind, built once by createApp. */
export interface KindServices {
  Device: ResourceService<typeof DeviceSchema, typeof DeviceListSchema>;
  Fleet: ResourceService<typeof FleetSchema, typeof FleetListSchema>;
  TemplateVersion: ResourceService<typeof TemplateVersionSchema, typeof TemplateVersionListSchema>;
  Repository: ResourceService<typeof RepositorySchema, typeof RepositoryListSchema>;
  EnrollmentRequest: ResourceService<typeof EnrollmentRequestSchema, typeof EnrollmentRequestListSchema>;
  CertificateSigningRequest: ResourceService<typeof CertificateSigningRequestSchema, typeof CertificateSigningRequestListSchema>;
  ResourceSync: ResourceService<typeof ResourceSyncSchema, typeof ResourceSyncListSchema>;
  AuthProvider: ResourceService<typeof AuthProviderSchema, typeof AuthProviderListSchema>;
}

/** Dependencies of non-kind user services. */
export interface ServiceDeps {
  db: KindDeps["db"];
  kindDeps: KindDeps;
  services: KindServices;
  membership: Membership;
  orgStore: OrganizationStore;
  authenticator: Authenticator;
  /** The enabled authentication providers. */
  providers(): Promise<AuthProvider[]>;
  fetch: FetchLike;
  /** The git commit the build came from (VersionService). */
  gitCommit?: string;
  /** Prometheus HTTP API base URL the charts read from (MetricsService; unset: not configured). */
  prometheusUrl?: string;
  /** Alertmanager's base URL the alerts are read from (AlertService; unset: not configured). */
  alertmanagerUrl?: string;
}

/** Dependencies of agent-endpoint services. */
export interface AgentServiceDeps {
  services: KindServices;
  device: DeviceAgentDeps;
  /** Counts a device's status report on its stream against the per-device limit its unary calls count against. */
  limitReport?: (identity: Identity, peer: Peer) => Promise<void>;
}
