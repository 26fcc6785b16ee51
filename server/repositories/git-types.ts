// The shapes of Git access (git.ts): a repository's spec, the files read, the limits and the client. Their own module
// so the pieces of git.ts (git-remote.ts, git-tree.ts) share them without importing git.ts back.

/** The `spec` of a Repository of type git (flightctl v1beta1 JSON field names). */
export interface GitRepository {
  /** https://…, http://…, ssh://user@host:port/path or scp-like user@host:path */
  url: string;
  /** Certificates and keys are base64 of PEM. */
  httpConfig?: {
    username?: string;
    password?: string;
    token?: string;
    "tls.crt"?: string;
    "tls.key"?: string;
    "ca.crt"?: string;
    skipServerVerification?: boolean;
  };
  /** sshPrivateKey is base64 of the PEM/OpenSSH key. */
  sshConfig?: { sshPrivateKey?: string; privateKeyPassphrase?: string; skipServerVerification?: boolean };
}

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
