// The auth_providers table: the generic resource store plus the enabled providers (read on every authentication
// cache refresh and by GetAuthConfig).
import { sql } from "drizzle-orm";
import { authProviders } from "../../db/schema/resources.js";
import type { AuthProviderSpecJson } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import type { NoJson } from "../platform/resource/resource-json.js";
import type { Executor } from "../platform/db.js";
import { createResourceStore, type ResourceRecord } from "../platform/resource/resource-store.js";

/** The AuthProvider store. */
export function createAuthProviderStore(db: Executor) {
  const store = createResourceStore<AuthProviderSpecJson, NoJson>(db, { kind: "AuthProvider", table: authProviders });
  return {
    ...store,

    /** Up to `limit` providers of an organization whose spec.enabled is not false, in name order. */
    async listEnabled(orgId: string, limit: number): Promise<ResourceRecord<AuthProviderSpecJson, NoJson>[]> {
      const page = await store.list(orgId, { where: [sql`coalesce((${authProviders.spec}->>'enabled')::boolean, true)`], limit });
      return page.records;
    },
  };
}
