// AuthProvider kind: generic rules; the client secret is write-only. Also the enabled providers, which
// authentication and GetAuthConfig (server/auth) read.
import { authProviders } from "../../db/schema/resources.js";
import { AuthProviderListSchema, AuthProviderSchema, type AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { AuthProviderService } from "../../gen/flightctl/v1beta1/authprovider_service_pb.js";
import { defineKind } from "../platform/resource/kind.js";
import { recordToJson } from "../platform/resource/resource-service.js";
import type { Db } from "../platform/db.js";
import { createAuthProviderStore } from "./authprovider-store.js";
import { DEFAULT_ORG_ID } from "../platform/identity.js";
import { fromJson } from "@bufbuild/protobuf";
import { validateAuthProvider } from "./authprovider-validation.js";

/** Write-only fields: masked in every response. */
export const AUTH_PROVIDER_SECRETS = [["spec", "clientSecret"]];

export const authProviderKind = defineKind({
  kind: "AuthProvider",
  service: AuthProviderService,
  schema: AuthProviderSchema,
  listSchema: AuthProviderListSchema,
  table: authProviders,
  validate: (obj) => validateAuthProvider(obj),
  secrets: AUTH_PROVIDER_SECRETS,
  handlers: ({ standard }) => standard,
});

/** Enabled AuthProvider resources (they live in the default organization), for authentication and GetAuthConfig. */
export function enabledProviders(db: Db) {
  const store = createAuthProviderStore(db);
  return async (): Promise<AuthProvider[]> => {
    const records = await store.listEnabled(DEFAULT_ORG_ID, 100);
    return records.map((r) => fromJson(AuthProviderSchema, recordToJson("AuthProvider", r), { ignoreUnknownFields: true }));
  };
}
