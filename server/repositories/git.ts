// Git access for Repositories of type git: check that a repository answers, resolve a revision to a commit, read the
// files under a path of a commit. Drives the `git` CLI (docs/gitops.md, "Git access", says why and how); commits are
// fetched once into a local cache of bare repositories, so reading a commit already fetched touches no network.
import { mkdirSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRepoCache } from "./git-cache.js";
import { GitError, WANT_REFUSED, remoteFailure } from "./git-error.js";
import { runGit, type GitRun } from "./git-exec.js";
import { baseGitEnv, openRemote, removeStaleCredentials, type Remote } from "./git-remote.js";
import { normalizeRepoPath, readTree } from "./git-tree.js";
import type { GitClient, GitRepository } from "./git-types.js";

export { GitError, type GitFailure } from "./git-error.js";
export type { GitClient, GitFile, GitLimits, GitRepository } from "./git-types.js";

export interface GitClientOptions {
  /** Where the bare repositories are cached; default os.tmpdir()/flightctl-git. */
  cacheDir?: string;
  /** Deadline of each git call; default 60 s. */
  timeoutMs?: number;
  /** ssh host keys are checked against this file; default ~/.ssh/known_hosts. */
  knownHostsFile?: string;
}

const FULL_OID = /^([0-9a-f]{40}|[0-9a-f]{64})$/;
/** A full commit id (SHA-1 or SHA-256): a revision that always names the same commit. */
export const isFullCommitId = (revision: string): boolean => FULL_OID.test(revision.trim().toLowerCase());
const ABBREV_OID = /^[0-9a-f]{4,64}$/i;
const ALL_REFS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

export function createGitClient(opts: GitClientOptions = {}): GitClient {
  const cacheDir = opts.cacheDir ?? join(tmpdir(), "flightctl-git");
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const knownHostsFile = opts.knownHostsFile ?? join(homedir(), ".ssh", "known_hosts");
  const cache = createRepoCache(cacheDir, timeoutMs);

  // Credential files live in the cache dir (mode 0700), not in the shared temp dir.
  const tempRoot = join(cacheDir, "tmp");

  let swept = false;

  async function withRemote<T>(repo: GitRepository, fn: (remote: Remote) => Promise<T>): Promise<T> {
    // Every time: a temp cleaner may have removed an idle cache dir.
    mkdirSync(tempRoot, { recursive: true, mode: 0o700 });
    if (!swept) {
      removeStaleCredentials(tempRoot);
      swept = true;
    }
    const remote = openRemote(repo, { knownHostsFile, timeoutMs, tempRoot });
    try {
      return await fn(remote);
    } finally {
      remote.dispose();
    }
  }

  /** A git call that talks to the remote; GitError when it fails. */
  async function remoteGit(remote: Remote, what: string, args: string[], gitDir?: string): Promise<GitRun> {
    const r = await runRemote(remote, args, gitDir);
    if (r.code !== 0) throw await remoteFailure(what, r.stderr, r.killed, timeoutMs, remote);
    return r;
  }

  /** Runs git with the remote's credentials, in the cache repository `gitDir` or (ls-remote) in none. */
  function runRemote(remote: Remote, args: string[], gitDir?: string): Promise<GitRun> {
    let cwd: string | undefined;
    const env = { ...remote.env };
    if (!gitDir) {
      // ls-remote needs no repository: run it where none can be found (not in whatever the service's cwd is).
      cwd = cacheDir;
      env.GIT_CEILING_DIRECTORIES = dirname(cacheDir);
    }
    return runGit(gitDir ? ["--git-dir", gitDir, ...args] : args, { cwd, env, timeoutMs });
  }

  /** The full id of `rev` as a commit in the cache repository, if it is there. */
  async function localCommit(dir: string, rev: string): Promise<string | undefined> {
    const r = await runGit(["--git-dir", dir, "rev-parse", "--verify", "--quiet", `${rev}^{commit}`], { env: baseGitEnv(), timeoutMs });
    return r.code === 0 ? r.stdout.toString("utf8").trim() : undefined;
  }

  const fetchArgs = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-auto-gc", "--no-recurse-submodules"];

  /**
   * Fetches all branch and tag tips, shallow first (a commit to read is usually a tip), then their whole history.
   * For servers that refuse a want by commit id (protocol v0 without allowReachableSHA1InWant), and for abbreviated ids.
   */
  async function fetchRefs(remote: Remote, dir: string, found: () => Promise<boolean>): Promise<boolean> {
    await remoteGit(remote, "fetch", [...fetchArgs, "--depth=1", "--", remote.url, ...ALL_REFS], dir);
    if (await found()) return true;
    const shallow =
      (await runGit(["--git-dir", dir, "rev-parse", "--is-shallow-repository"], { env: baseGitEnv() })).stdout.toString().trim() === "true";
    await remoteGit(remote, "fetch", [...fetchArgs, ...(shallow ? ["--unshallow"] : []), "--", remote.url, ...ALL_REFS], dir);
    return found();
  }

  /** Makes `commit` (a full id) present in the cache repository `dir`, fetching only that commit when the server allows. */
  async function fetchCommit(remote: Remote, dir: string, commit: string): Promise<void> {
    // Kept under refs/cache/ so nothing prunes it.
    const r = await runRemote(remote, [...fetchArgs, "--depth=1", "--", remote.url, `${commit}:refs/cache/${commit}`], dir);
    if (r.code === 0) return;
    if (r.killed || !WANT_REFUSED.test(r.stderr)) throw await remoteFailure("fetch", r.stderr, r.killed, timeoutMs, remote);
    if (!(await fetchRefs(remote, dir, async () => (await localCommit(dir, commit)) !== undefined))) {
      throw new GitError("RevisionNotFound", `commit ${commit.slice(0, 7)} not found in ${remote.display}`);
    }
  }

  /** Runs `fn` on the cache repository of `remote`, holding its lock. */
  function inCache<T>(remote: Remote, fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = cache.repoDir(remote.identity);
    return cache.withLock(dir, async () => {
      await cache.ensureRepo(dir);
      return fn(dir);
    });
  }

  async function resolveWith(remote: Remote, revision: string): Promise<string> {
    const rev = revision.trim();
    const notFound = () => new GitError("RevisionNotFound", `revision "${rev}" not found in ${remote.display}`);
    if (!rev) throw notFound();
    // The second pattern asks for the peeled commit of an annotated tag (ls-remote omits it for a plain pattern).
    const out = await remoteGit(remote, "ls-remote", ["ls-remote", "--", remote.url, rev, `${rev}^{}`]);
    const refs = new Map<string, string>();
    for (const line of out.stdout.toString("utf8").split("\n")) {
      const [oid, ref] = line.split("\t");
      if (oid && ref) refs.set(ref, oid);
    }
    // git's own order for a short name: an exact ref, then tags, then branches. Annotated tags are peeled to their commit.
    const names = rev === "HEAD" || rev.startsWith("refs/") ? [rev] : [`refs/${rev}`, `refs/tags/${rev}`, `refs/heads/${rev}`];
    for (const name of names) {
      const oid = refs.get(`${name}^{}`) ?? refs.get(name);
      if (oid) return oid;
    }
    if (!ABBREV_OID.test(rev)) throw notFound();
    const id = rev.toLowerCase();
    return inCache(remote, async (dir) => {
      const local = await localCommit(dir, id);
      if (local) return local;
      if (FULL_OID.test(id)) {
        await fetchCommit(remote, dir, id).catch((e) => {
          throw e instanceof GitError && e.reason === "RevisionNotFound" ? notFound() : e;
        });
        return id;
      }
      // An abbreviated id cannot be fetched as such: fetch the history it may be in, then look it up.
      let full: string | undefined;
      if (await fetchRefs(remote, dir, async () => (full = await localCommit(dir, id)) !== undefined)) return full!;
      throw notFound();
    });
  }

  return {
    check: (repo) =>
      withRemote(repo, async (remote) => {
        await remoteGit(remote, "ls-remote", ["ls-remote", "--", remote.url, "HEAD"]);
      }),

    resolve: (repo, revision) => withRemote(repo, (remote) => resolveWith(remote, revision)),

    readPath: (repo, commit, path, limits) =>
      withRemote(repo, async (remote) => {
        const id = FULL_OID.test(commit.trim()) ? commit.trim() : await resolveWith(remote, commit);
        return inCache(remote, async (dir) => {
          if (!(await localCommit(dir, id))) await fetchCommit(remote, dir, id);
          return readTree(dir, id, normalizeRepoPath(path), limits, timeoutMs);
        });
      }),
  };
}
