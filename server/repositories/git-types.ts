// The shapes of Git access (git.ts): a repository's spec, the files read, the limits and the client. Their own module
// so the pieces of git.ts (git-remote.ts, git-tree.ts) share them without importing git.ts back.

import type { RepositorySpecJson } from "../../gen/flightctl/v1beta1/repository_pb.js";

/**
 * What git reads of a Repository's spec (the generated RepositorySpecJson): url (https://…, http://…,
 * ssh://user@host:port/path or scp-like user@host:path), httpConfig (certificates and keys base64 of PEM) and
 * sshConfig (sshPrivateKey base64 of the PEM/OpenSSH key).
 */
export type GitRepository = Pick<RepositorySpecJson, "url" | "httpConfig" | "sshConfig">;

/** One file read from a commit. */
export interface GitFile {
  /** posix, relative to the repository root */
  path: string;
  content: Buffer;
  /** 0o644 or 0o755 */
  mode: number;
}

/** Defaults: 1 MiB per file, 10 MiB total, 1000 files. */
export interface GitLimits {
  maxFileBytes?: number;
  maxTotalBytes?: number;
  maxFiles?: number;
}

/** Git access for Repositories of type git (createGitClient in git.ts). */
export interface GitClient {
  /** Whether the repository answers with these credentials (git ls-remote). Throws GitError. */
  check(repo: GitRepository): Promise<void>;
  /** A branch, tag or (full or abbreviated) commit → the full commit id. Throws GitError (RevisionNotFound when none). */
  resolve(repo: GitRepository, revision: string): Promise<string>;
  /** The files at `path` in `commit`: a file path gives that one file, a directory everything under it (recursively). Throws GitError (PathNotFound, TooLarge…). */
  readPath(repo: GitRepository, commit: string, path: string, limits?: GitLimits): Promise<GitFile[]>;
}
