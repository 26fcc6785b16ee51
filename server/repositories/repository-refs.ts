// Which Repository resources a device spec (or fleet template) reads through its config providers, and the "version"
// of each: what the fleet controller, the renderer and the repository-change propagation all need, in one place.
import { createHash } from "node:crypto";
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { REPOSITORY_PROVIDERS, type RepositoryProvider, type StoredRepository } from "./repository-store.js";

export { loadRepositories, REPOSITORY_PROVIDERS, type RepositoryProvider, type StoredRepository } from "./repository-store.js";

export interface ConfigRepositoryRef {
  /** Index in spec.config. */
  index: number;
  provider: RepositoryProvider;
  repository: string;
}

/** The repository references of a device spec's config providers, in order. */
export function configRepositoryRefs(spec: DeviceSpecJson | null | undefined): ConfigRepositoryRef[] {
  const out: ConfigRepositoryRef[] = [];
  const config = spec?.config;
  if (!Array.isArray(config)) return out;
  config.forEach((c, index) => {
    for (const provider of Object.keys(REPOSITORY_PROVIDERS) as RepositoryProvider[]) {
      const repository = c?.[provider]?.repository;
      if (typeof repository === "string") out.push({ index, provider, repository });
    }
  });
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
