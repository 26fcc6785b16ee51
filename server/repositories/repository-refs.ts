// Which Repository resources a device spec (or fleet template) reads through its config providers, and the "version"
// of each: what the fleet controller, the renderer and the repository-change propagation all need, in one place.
import { createHash } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { sql } from "drizzle-orm";
import { textArray } from "../platform/pg-array.js";
import type { Executor } from "../platform/resource/resource-store.js";

/** Config provider keys that name a repository, and the repository type each needs. */
export const REPOSITORY_PROVIDERS = { gitRef: "git", httpRef: "http" } as const;
export type RepositoryProvider = keyof typeof REPOSITORY_PROVIDERS;

export interface ConfigRepositoryRef {
  /** Index in spec.config. */
  index: number;
  provider: RepositoryProvider;
  repository: string;
}

/** The repository references of a device spec's config providers, in order. */
export function configRepositoryRefs(spec: JsonObject | null | undefined): ConfigRepositoryRef[] {
  const out: ConfigRepositoryRef[] = [];
  const config = spec?.config;
  if (!Array.isArray(config)) return out;
  config.forEach((c, index) => {
    for (const provider of Object.keys(REPOSITORY_PROVIDERS) as RepositoryProvider[]) {
      const repository = ((c as JsonObject | null)?.[provider] as JsonObject | undefined)?.repository;
      if (typeof repository === "string") out.push({ index, provider, repository });
    }
  });
  return out;
}

export interface StoredRepository {
  spec: JsonObject;
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
  const r = await exec.execute(sql`select name, spec, generation, (extract(epoch from created_at) * 1000000)::bigint::text as created
    from repositories where org_id = ${orgId} and name = any(${textArray([...new Set(names)])})`);
  for (const row of r.rows as { name: string; spec: JsonObject | null; generation: number | string; created: string }[]) {
    const spec = row.spec ?? {};
    out.set(row.name, { spec, type: String(spec.type ?? ""), version: `${row.created}.${row.generation}` });
  }
  return out;
}

/**
 * A short digest of the versions of `names` ("" for none; a missing repository counts as a version too): content
 * frozen under a key that includes it is fetched again once a referenced repository changes. `commits` (git
 * dependency key → commit, see git-dependencies.ts) are part of it, so a new commit on a watched branch gives a new
 * digest, hence a new template version.
 */
export function repositoriesDigest(names: string[], repos: Map<string, StoredRepository>, commits: Record<string, string> = {}): string {
  const unique = [...new Set(names)].sort();
  if (!unique.length) return "";
  const h = createHash("sha256");
  for (const n of unique) h.update(`${n}=${repos.get(n)?.version ?? "missing"}\n`);
  for (const key of Object.keys(commits).sort()) h.update(`${key}@${commits[key]}\n`);
  return h.digest("hex").slice(0, 16);
}

/** Why `repo` (looked up by `name`) cannot serve a config provider that needs a repository of `type`. */
export function repositoryProblem(name: string, repo: StoredRepository | undefined, type: string): string | undefined {
  if (!repo) return `repository "${name}" does not exist`;
  if (repo.type !== type) return `repository "${name}" is of type ${repo.type || "(none)"}, not ${type}`;
  return undefined;
}
