// Git dependencies: the (repository, revision) pairs that gitRef providers read and that can move (a branch, a tag:
// anything but a full commit id), and the commits they were resolved to. Renders read these pinned commits rather
// than the branch tip, so what a device runs is exactly what was recorded — on a fleet's template version (resolved
// when the version is made) or on a standalone device (resolved by its render) — and the dependency sync can tell a
// new commit from the one devices run by comparing with the record.
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { eachLimited } from "../platform/concurrency.js";
import { hasPlaceholders } from "../platform/template/template-params.js";
import { GitError, isFullCommitId, type GitClient } from "./git.js";
import { configRepositoryRefs, repositoryProblem, type StoredRepository } from "./repository-refs.js";

/** On a template version: JSON `{<key>: <commit>}`, the commits of the git dependencies its template reads. */
export const ANNOTATION_TV_GIT_COMMITS = "fleet-controller/gitCommits";
/** On a standalone device: JSON `{freezeKey, commits}`, the commits its renders under that freeze key read. */
export const ANNOTATION_DEVICE_GIT_COMMITS = "device-controller/gitCommits";

/** flightctl's resource key of a git dependency, e.g. "git:cfg/main". */
export const gitDependencyKey = (repository: string, revision: string): string => `git:${repository}/${revision}`;

export interface GitDependency {
  key: string;
  repository: string;
  revision: string;
}

/**
 * The git dependencies of a device spec or fleet template that can move, once each. A revision with template
 * parameters is left out: it names a different revision per device and is frozen per template version by the render.
 */
export function gitDependencies(spec: DeviceSpecJson | null | undefined): GitDependency[] {
  const config = spec?.config ?? [];
  const out = new Map<string, GitDependency>();
  for (const ref of configRepositoryRefs(spec)) {
    if (ref.provider !== "gitRef") continue;
    const revision = config[ref.index].gitRef?.targetRevision;
    if (typeof revision !== "string" || !revision.trim() || hasPlaceholders(revision) || isFullCommitId(revision)) continue;
    const key = gitDependencyKey(ref.repository, revision);
    out.set(key, { key, repository: ref.repository, revision });
  }
  return [...out.values()];
}

function parseCommits(value: unknown): Record<string, string> {
  if (!value || typeof value !== "object" || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((e): e is [string, string] => typeof e[1] === "string"));
}

function parseJson(text: string | undefined): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

/** Sorted keys: equal maps give equal annotation text (no write when nothing changed). */
const sorted = (commits: Record<string, string>) =>
  Object.fromEntries(
    Object.keys(commits)
      .sort()
      .map((k) => [k, commits[k]]),
  );

/** The commits a template version pinned (empty for versions made before pinning existed). */
export const templateVersionCommits = (annotations: Record<string, string> | null | undefined): Record<string, string> =>
  parseCommits(parseJson(annotations?.[ANNOTATION_TV_GIT_COMMITS]));

export const templateVersionCommitsAnnotation = (commits: Record<string, string>): Record<string, string> =>
  Object.keys(commits).length ? { [ANNOTATION_TV_GIT_COMMITS]: JSON.stringify(sorted(commits)) } : {};

/**
 * The commits recorded on a standalone device for `freezeKey`, or undefined when none were recorded under it (its
 * spec or a repository it reads changed since: the next render resolves afresh).
 */
export function deviceCommits(
  annotations: Record<string, string> | null | undefined,
  freezeKey: string,
): Record<string, string> | undefined {
  const v = parseJson(annotations?.[ANNOTATION_DEVICE_GIT_COMMITS]) as { freezeKey?: unknown; commits?: unknown } | undefined;
  return v?.freezeKey === freezeKey ? parseCommits(v.commits) : undefined;
}

export const deviceCommitsAnnotation = (freezeKey: string, commits: Record<string, string>): string =>
  JSON.stringify({ freezeKey, commits: sorted(commits) });

/** What asking git for a dependency's commit gave. */
export type ProbeResult = { commit: string } | { error: string };

/**
 * Resolves each dependency once, `concurrency` at a time, with its repository's credentials. Dependencies on a
 * repository that is missing or not of type git are left out (the fleet or device is invalid for that reason already).
 * A failure is a result, not an exception: one unreachable repository does not stop the others.
 */
export async function resolveDependencies(
  git: GitClient,
  repos: Map<string, StoredRepository>,
  deps: GitDependency[],
  concurrency = 4,
): Promise<Map<string, ProbeResult>> {
  const out = new Map<string, ProbeResult>();
  const unique = [...new Map(deps.map((d) => [d.key, d])).values()].filter(
    (d) => !repositoryProblem(d.repository, repos.get(d.repository), "git"),
  );
  await eachLimited(unique, concurrency, async (d) => {
    try {
      out.set(d.key, { commit: await git.resolve(repos.get(d.repository)!.spec, d.revision) });
    } catch (e) {
      // The git client's messages never hold a secret; anything else (git missing, …) is reported as it is.
      out.set(d.key, { error: e instanceof GitError ? e.message : `could not run git: ${(e as Error).message}` });
    }
  });
  return out;
}
