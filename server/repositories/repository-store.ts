// The repositories table as the controllers read it: repositories by name with their "version" (for frozen content),
// every repository (for the periodic tester), and the containment test "reads one of these repositories" that the
// fleet and device stores use to find the readers of a changed repository. (Writes go through the generic resource store.)
import { sql, type SQL } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";
import { repositories } from "../../db/schema/index.js";
import { textArray } from "../platform/pg-array.js";
import type { Executor } from "../platform/resource/resource-store.js";

/** Config provider keys that name a repository, and the repository type each needs. */
export const REPOSITORY_PROVIDERS = { gitRef: "git", httpRef: "http" } as const;
export type RepositoryProvider = keyof typeof REPOSITORY_PROVIDERS;

/** A repository as the readers of its content see it. */
export interface StoredRepository {
  spec: RepositorySpecJson;
  type: string;
  /**
   * Changes whenever the repository's spec changes or it is deleted and created again (creation time + generation):
   * status writes by the tester leave it alone.
   */
  version: string;
}

/** The named repositories of an org that exist. */
export async function loadRepositories(exec: Executor, orgId: string, names: string[]): Promise<Map<string, StoredRepository>> {
  const out = new Map<string, StoredRepository>();
  if (!names.length) return out;
  const r = await exec.execute<{ name: string; spec: RepositorySpecJson | null; generation: number | string; created: string }>(
    sql`select name, spec, generation, (extract(epoch from created_at) * 1000000)::bigint::text as created
    from ${repositories} where org_id = ${orgId} and name = any(${textArray([...new Set(names)])})`,
  );
  for (const row of r.rows) {
    const spec = row.spec ?? {};
    out.set(row.name, { spec, type: String(spec.type ?? ""), version: `${row.created}.${row.generation}` });
  }
  return out;
}

/** Every repository of every organization, in (org, name) order. */
export async function listAllRepositories(exec: Executor): Promise<{ orgId: string; name: string }[]> {
  const r = await exec.execute<{ org_id: string; name: string }>(sql`select org_id, name from ${repositories} order by org_id, name`);
  return r.rows.map((row) => ({ orgId: row.org_id, name: row.name }));
}

/** Repositories per organization (the service metrics). */
export async function countRepositoriesByOrg(exec: Executor): Promise<{ orgId: string; count: number }[]> {
  const r = await exec.execute<{ org: string; n: number }>(
    sql`select org_id::text as org, count(*)::int as n from ${repositories} group by 1`,
  );
  return r.rows.map((row) => ({ orgId: row.org, count: row.n }));
}

/**
 * "`spec` has a config provider reading one of `names`": containment (`@>`) per repository and provider, so the
 * jsonb index serves it. `wrap` places the config list where the kind keeps it (a fleet's template, a device's spec).
 */
export function readsRepositoriesSql(names: readonly string[], wrap: (config: JsonObject[]) => JsonObject): SQL {
  return sql.join(
    names.flatMap((repository) =>
      Object.keys(REPOSITORY_PROVIDERS).map((p) => sql`spec @> ${JSON.stringify(wrap([{ [p]: { repository } }]))}::jsonb`),
    ),
    sql` or `,
  );
}
