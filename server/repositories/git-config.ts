// The git config provider: `gitRef{repository, targetRevision, path, mountPath}` renders as inline files, every file
// under `path` at the commit `targetRevision` names, placed under `mountPath` (default "/") by its path relative to
// `path` (a `path` naming one file gives that file under its base name, as flightctl does). Content is frozen: the
// commit is the one pinned for the render (recorded on the template version or the standalone device, see
// git-dependencies.ts), else the revision resolves once per freeze key (template version, or standalone device
// generation plus the versions of the repositories it reads); the files of (repository URL, commit, path) are read
// once and shared through the ContentCache, so 1,000 devices of one template version cost at most one resolve and one read.
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type { FileSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { Db } from "../platform/resource/resource-store.js";
import type { ContentCache } from "../platform/content-cache.js";
import { devicePathProblem } from "../platform/validation/rules.js";
import { RenderError, type ConfigResolver } from "../devices/renderer.js";
import { GitError, type GitClient, type GitFile, type GitLimits } from "./git.js";
import { normalizeRepoPath } from "./git-tree.js";
import { gitDependencyKey } from "./git-dependencies.js";
import { loadRepositories, repositoryProblem } from "./repository-refs.js";

/**
 * What one git config provider may bring: a file as large as an inline file may be, and a bounded total, because every
 * device of the template version stores (and downloads) its own rendered copy.
 */
export const GIT_CONFIG_LIMITS: Required<GitLimits> = { maxFileBytes: 1024 * 1024, maxTotalBytes: 4 * 1024 * 1024, maxFiles: 1000 };

interface CachedFile {
  path: string;
  mode: number;
  content: string;
}

/** A gitRef (or ResourceSync) `path` as the git client reads it: relative to the root, "" for the root; ".." cannot climb out. */
export const repoPath = (path: string): string => normalizeRepoPath(path);

/**
 * Where each file read at `path` goes on the device: below `mountPath`, by its path relative to `path`, or by its
 * base name when `path` is the file itself.
 */
export function devicePaths(files: { path: string }[], path: string, mountPath = "/"): string[] {
  const single = files.length === 1 && files[0].path === path;
  return files.map((f) => {
    const rel = single ? posix.basename(f.path) : path === "" ? f.path : f.path.slice(path.length + 1);
    return posix.join(mountPath || "/", rel);
  });
}

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

export function createGitConfigResolver(
  db: Db,
  cache: ContentCache,
  git: GitClient,
  limits: GitLimits = GIT_CONFIG_LIMITS,
): ConfigResolver {
  return async (provider, ctx) => {
    const ref = provider.gitRef ?? {};
    const where = `config provider "${String(provider.name)}"`;
    const name = ref.repository ?? "";
    const stored = (await loadRepositories(db, ctx.orgId, [name])).get(name);
    const problem = repositoryProblem(name, stored, "git");
    if (problem) throw new RenderError(`${where}: ${problem}`);
    const repo = stored!.spec;
    const revision = ref.targetRevision ?? "";
    const path = repoPath(ref.path ?? "");
    const freeze = ctx.freezeKey ?? `device:${ctx.device}`;
    let commit: string;
    let files: CachedFile[];
    try {
      // A pinned commit is read as is (what the template version or the device recorded, so the dependency sync knows
      // exactly what devices run). Otherwise the revision is frozen by name (not URL) under the freeze key: an old
      // template version keeps its commit even if the URL moves.
      const key = gitDependencyKey(name, revision);
      commit =
        ctx.commits?.[key] ??
        (
          await cache.getOrLoad(`git-rev:${ctx.orgId}:${freeze}:${name}:${revision}`, async () =>
            Buffer.from(await git.resolve(repo, revision)),
          )
        ).toString();
      if (ctx.commits) ctx.commits[key] = commit;
      // A commit's tree never changes: its files are shared by every freeze key that resolved to it.
      const data = await cache.getOrLoad(`git-data:${ctx.orgId}:${sha(repo.url ?? "")}:${commit}:${path}`, async () => {
        const read: GitFile[] = await git.readPath(repo, commit, path, limits);
        const list: CachedFile[] = read.map((f) => ({ path: f.path, mode: f.mode & 0o7777, content: f.content.toString("base64") }));
        return Buffer.from(JSON.stringify(list));
      });
      files = JSON.parse(data.toString()) as CachedFile[];
    } catch (e) {
      // What git says is the spec's problem (SpecValid=False); anything else (cache, spawning git) fails the job,
      // which graphile-worker retries.
      if (!(e instanceof GitError)) throw e;
      throw new RenderError(`${where}: repository "${name}": ${e.message}`);
    }
    const targets = devicePaths(files, path, ref.mountPath);
    return files.map((f, i): FileSpecJson => {
      const bad = devicePathProblem(targets[i]);
      if (bad) throw new RenderError(`${where}: "${f.path}" at ${commit.slice(0, 12)} would be written to "${targets[i]}", which ${bad}`);
      return { path: targets[i], content: f.content, contentEncoding: "base64", mode: f.mode };
    });
  };
}
