// createApp(deps) builds everything the user endpoint serves, independent of how it is listened on.
// main/ processes and tests share it.
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { drizzle } from "drizzle-orm/node-postgres";
import type { Pool } from "pg";
import type { Logger } from "pino";
import { errorInterceptor } from "./platform/error-interceptor.js";
import { registerKind, type KindDefinition } from "./platform/resource/kind.js";
import type { Db } from "./platform/resource/resource-store.js";
import type { OrgResolver } from "./platform/resource/resource-rpc.js";
import { createOrganizationStore } from "./organizations/organization-store.js";
import { createOrgResolver } from "./organizations/organization-service.js";
import { deviceKind } from "./devices/device-service.js";
import { fleetKind } from "./fleets/fleet-service.js";
import { templateVersionKind } from "./templateversions/templateversion-service.js";
import { repositoryKind } from "./repositories/repository-service.js";
import { labelServiceRegistration } from "./devices/label-rpc.js";
import { enrollmentRequestKind } from "./enrollment/enrollmentrequest-service.js";
import { certificateSigningRequestKind } from "./certificates/csr-service.js";
import { resourceSyncKind } from "./resourcesyncs/resourcesync-service.js";
import { authProviderKind, authServiceRegistration } from "./authproviders/authprovider-service.js";
import { eventServiceRegistration } from "./events/event-rpc.js";
import { organizationServiceRegistration } from "./organizations/organization-rpc.js";
import { versionServiceRegistration } from "./version/version-rpc.js";

export interface AppDeps {
  /** Shared Postgres pool (drizzle is built on it here). */
  pool: Pool;
  log: Logger;
}

export interface App {
  /** Registers every user-API service implementation on a Connect router. */
  register(router: ConnectRouter): void;
  /** Interceptors the user endpoint must install (innermost last); include the error mapper. */
  interceptors: Interceptor[];
  /** Every service served, for health checking. */
  services: DescService[];
  /** Every proto file served, for server reflection. */
  files: DescFile[];
}

/** A non-resource service: its descriptor and how to register its handlers. */
interface ServiceRegistration {
  service: DescService;
  register(router: ConnectRouter, deps: { db: Db; orgs: OrgResolver }): void;
}

/** The resource kinds served with the generic machinery (plus their own handlers). */
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

export function createApp(deps: AppDeps): App {
  const db = drizzle(deps.pool) as unknown as Db;
  const orgs = createOrgResolver(createOrganizationStore(db));
  /** Services that are not resource kinds. */
  const others: ServiceRegistration[] = [
    labelServiceRegistration,
    eventServiceRegistration,
    organizationServiceRegistration,
    authServiceRegistration,
    versionServiceRegistration,
  ];
  const services: DescService[] = [...kinds.map((k) => k.service), ...others.map((r) => r.service)];
  return {
    register(router) {
      for (const kind of kinds) registerKind(router, kind, db, orgs);
      for (const r of others) r.register(router, { db, orgs });
    },
    interceptors: [errorInterceptor((err, procedure) => deps.log.error({ err, procedure }, "internal error"))],
    services,
    files: services.map((s) => s.file),
  };
}
