// Reads the files under a path of a commit in a local repository: `ls-tree -r -l` lists them with their sizes, so the
// limits are enforced before any content is loaded, then one `cat-file --batch` streams all the blobs.
import { posix } from "node:path";
import { runGitOk } from "./git-exec.js";
import { GitError } from "./git-error.js";
import { baseGitEnv } from "./git-remote.js";
import type { GitFile, GitLimits } from "./git-types.js";

export const DEFAULT_LIMITS: Required<GitLimits> = { maxFileBytes: 1024 * 1024, maxTotalBytes: 10 * 1024 * 1024, maxFiles: 1000 };

interface TreeEntry {
  mode: string;
  type: string;
  oid: string;
  size: number;
  path: string;
}

/** A repository path as git spells it: posix, no leading "./" or "/", no trailing "/"; "" is the root. */
export function normalizeRepoPath(path: string): string {
  const p = posix.normalize(`/${path.trim()}`).replace(/^\/+|\/+$/g, "");
  return p === "." ? "" : p;
}

const short = (commit: string) => commit.slice(0, 7);

async function listTree(gitDir: string, commit: string, path: string, timeoutMs: number): Promise<TreeEntry[]> {
  const out = await runGitOk(["--git-dir", gitDir, "ls-tree", "-r", "-l", "-z", commit, ...(path ? ["--", path] : [])], {
    // The path is a name, not a pattern: "*" or "?" in it match only themselves.
    env: { ...baseGitEnv(), GIT_LITERAL_PATHSPECS: "1" },
    timeoutMs,
  });
  const entries: TreeEntry[] = [];
  for (const rec of out.toString("utf8").split("\0")) {
    if (!rec) continue;
    const tab = rec.indexOf("\t");
    const [mode, type, oid, size] = rec.slice(0, tab).split(/ +/);
    entries.push({ mode, type, oid, size: Number(size), path: rec.slice(tab + 1) });
  }
  return entries;
}

/** Parses `cat-file --batch` output: "<oid> <type> <size>\n<content>\n" per object. */
function parseBatch(out: Buffer): Map<string, Buffer> {
  const blobs = new Map<string, Buffer>();
  let pos = 0;
  while (pos < out.length) {
    const nl = out.indexOf(0x0a, pos);
    const [oid, type, size] = out.subarray(pos, nl).toString("utf8").split(" ");
    if (type === "missing" || size === undefined) throw new Error(`git cat-file: object ${oid} is missing from the cache`);
    const start = nl + 1;
    blobs.set(oid, out.subarray(start, start + Number(size)));
    pos = start + Number(size) + 1;
  }
  return blobs;
}

/**
 * The regular files at `path` in `commit` (a file, or everything under a directory), which must be in `gitDir`.
 * Symbolic links and submodules are skipped: they point outside what the commit itself holds.
 */
export async function readTree(
  gitDir: string,
  commit: string,
  path: string,
  limits: GitLimits = {},
  timeoutMs = 60_000,
): Promise<GitFile[]> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  const where = path ? `path "${path}"` : "the repository root";
  const entries = await listTree(gitDir, commit, path, timeoutMs);
  if (entries.length === 0) throw new GitError("PathNotFound", `path "${path}" not found at commit ${short(commit)}`);
  const files = entries.filter((e) => e.type === "blob" && (e.mode === "100644" || e.mode === "100755"));
  if (files.length > lim.maxFiles) {
    throw new GitError(
      "TooLarge",
      `${where} at commit ${short(commit)} holds ${files.length} files, more than the limit of ${lim.maxFiles}`,
    );
  }
  let total = 0;
  for (const f of files) {
    if (f.size > lim.maxFileBytes) {
      throw new GitError(
        "TooLarge",
        `file "${f.path}" at commit ${short(commit)} is ${f.size} bytes, more than the limit of ${lim.maxFileBytes}`,
      );
    }
    total += f.size;
  }
  if (total > lim.maxTotalBytes) {
    throw new GitError("TooLarge", `${where} at commit ${short(commit)} holds ${total} bytes, more than the limit of ${lim.maxTotalBytes}`);
  }
  if (files.length === 0) return [];
  const oids = [...new Set(files.map((f) => f.oid))];
  const out = await runGitOk(["--git-dir", gitDir, "cat-file", "--batch"], {
    env: baseGitEnv(),
    input: `${oids.join("\n")}\n`,
    timeoutMs,
    maxStdout: total + oids.length * 128,
  });
  const blobs = parseBatch(out);
  return files.map((f) => ({ path: f.path, content: Buffer.from(blobs.get(f.oid)!), mode: f.mode === "100755" ? 0o755 : 0o644 }));
}
