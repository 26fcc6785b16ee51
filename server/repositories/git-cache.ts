// The local cache: one bare repository per (URL, credentials) under the cache dir, reused between calls so a commit
// is fetched once. Keyed by credentials too, so a caller without access to a private repository cannot read what
// another caller's credentials fetched into the cache. Directory names are an HMAC (key kept in the cache dir), so
// they say nothing about the credentials. Operations on one cache repository are serialized: in this process by a
// promise chain, across processes sharing the dir by an exclusive lock file.
import { createHmac, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { pidAlive, runGitOk } from "./git-exec.js";
import { baseGitEnv } from "./git-remote.js";

export interface RepoCache {
  /** The bare repository for `identity` (created on first use). Call inside withLock. */
  repoDir(identity: string): string;
  /** Runs `fn` holding the lock of `dir`'s cache repository. */
  withLock<T>(dir: string, fn: () => Promise<T>): Promise<T>;
  /** Creates the bare repository at `dir` unless it exists. Call inside withLock. */
  ensureRepo(dir: string): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Takes `path` as an exclusive lock file; a lock whose holder is gone (dead pid, or older than staleMs) is broken. */
async function lockFile(path: string, staleMs: number): Promise<() => void> {
  for (;;) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          // already broken as stale by another process
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    try {
      const pid = Number(readFileSync(path, "utf8"));
      if ((pid > 0 && !pidAlive(pid)) || Date.now() - statSync(path).mtimeMs > staleMs) unlinkSync(path);
    } catch {
      // released meanwhile, or half written: try again
    }
    await sleep(25 + Math.random() * 50);
  }
}

export function createRepoCache(root: string, timeoutMs: number): RepoCache {
  const chains = new Map<string, Promise<unknown>>();
  let key: Buffer | undefined;

  /** The HMAC key, created once per cache dir (shared by the processes using it). */
  function hmacKey(): Buffer {
    if (key) return key;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    const file = join(root, ".key");
    if (!existsSync(file)) {
      // Written aside then linked into place: other processes see either no key or the whole key.
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
      writeFileSync(tmp, randomBytes(32).toString("hex"), { mode: 0o600 });
      try {
        linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      } finally {
        unlinkSync(tmp);
      }
    }
    return (key = Buffer.from(readFileSync(file, "utf8").trim(), "hex"));
  }

  return {
    repoDir: (identity) => join(root, `${createHmac("sha256", hmacKey()).update(identity).digest("hex").slice(0, 40)}.git`),

    withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
      const prev = chains.get(dir) ?? Promise.resolve();
      const next = prev
        .catch(() => {})
        .then(async () => {
          // Held at most for a handful of git calls, each bounded by the timeout.
          const release = await lockFile(`${dir}.lock`, 10 * timeoutMs);
          try {
            return await fn();
          } finally {
            release();
          }
        });
      chains.set(dir, next);
      const forget = () => {
        if (chains.get(dir) === next) chains.delete(dir);
      };
      next.then(forget, forget);
      return next;
    },

    async ensureRepo(dir) {
      if (existsSync(join(dir, "config"))) return;
      const env = baseGitEnv();
      await runGitOk(["init", "--quiet", "--bare", dir], { env });
      // No auto-gc: it would prune the fetched commits that no branch points at.
      await runGitOk(["--git-dir", dir, "config", "gc.auto", "0"], { env });
    },
  };
}
