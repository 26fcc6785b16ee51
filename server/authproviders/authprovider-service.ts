// AuthProvider kind: generic rules; the client secret is write-only. Also AuthService.GetAuthConfig, the login
// configuration built from the enabled providers.
import type { ConnectRouter } from "@connectrpc/connect";
import { sql } from "drizzle-orm";
import { AuthProviderListSchema, AuthProviderSchema } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { AuthProviderService } from "../../gen/flightctl/v1beta1/authprovider_service_pb.js";
import { AuthService } from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import type { KindDefinition } from "../platform/resource/kind.js";
import { API_VERSION, recordToJson } from "../platform/resource/resource-service.js";
import { createResourceStore, type Db } from "../platform/resource/resource-store.js";
import { DEFAULT_ORG_ID } from "../platform/identity.js";
import { maskSecrets } from "../platform/sensitive.js";
import { fromJson } from "@bufbuild/protobuf";
import { validateAuthProvider } from "./authprovider-validation.js";

const secrets = [["spec", "clientSecret"]];

export const authProviderKind: KindDefinition<typeof AuthProviderSchema> = {
  kind: "AuthProvider",
  service: AuthProviderService,
  schema: AuthProviderSchema,
  listSchema: AuthProviderListSchema,
  table: "auth_providers",
  validate: (obj) => validateAuthProvider(obj),
  secrets,
};

/** The login configuration: enabled providers of the default organization, secrets masked. */
export function createAuthConfigService(db: Db) {
  const store = createResourceStore(db, { kind: "AuthProvider", table: "auth_providers" });
  return {
    async get() {
      const page = await store.list(DEFAULT_ORG_ID, { where: [sql`coalesce((spec->>'enabled')::boolean, true)`], limit: 100 });
      const providers = page.records.map((r) =>
        fromJson(AuthProviderSchema, maskSecrets(recordToJson("AuthProvider", r), secrets), { ignoreUnknownFields: true }),
      );
      return {
        apiVersion: API_VERSION,
        providers,
        ...(providers[0]?.metadata?.name ? { defaultProvider: providers[0].metadata.name } : {}),
        organizationsEnabled: true,
      };
    },
  };
}

export const authServiceRegistration = {
  service: AuthService,
  register(router: ConnectRouter, deps: { db: Db }) {
    const config = createAuthConfigService(deps.db);
    router.service(AuthService, { getAuthConfig: () => config.get() });
  },
};
