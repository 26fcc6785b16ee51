// Runs the `git` CLI: one child process per call with a hard deadline, optional stdin, and a cap on what stdout may
// hold (so a misbehaving server or a huge object cannot fill memory). Hand-written rather than through a wrapper
// library because we need binary stdout and stdin (cat-file --batch) and an absolute deadline; docs/gitops.md says more.
import { spawn } from "node:child_process";

export interface GitRun {
  /** Exit code; null when the process was killed (deadline, output cap). */
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** Why the process was killed, if it was. */
  killed?: "timeout" | "output";
}

export interface GitRunOptions {
  cwd?: string;
  /** Added to (and overriding) the inherited environment. */
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
  /** Largest stdout kept; the process is killed beyond it. Default 64 MiB. */
  maxStdout?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_STDOUT = 64 * 1024 * 1024;
/** Stderr is only read for error messages: keep its end, where git says what failed. */
const MAX_STDERR = 64 * 1024;

/** Runs `git <args>`; never throws for a non-zero exit (callers map stderr), only when git cannot be started. */
export function runGit(args: string[], opts: GitRunOptions = {}): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
      // Own process group: the deadline kills git's helpers too (ssh, git-remote-https), not just git.
      detached: true,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = "";
    let killed: GitRun["killed"];
    const maxStdout = opts.maxStdout ?? DEFAULT_MAX_STDOUT;
    const kill = (why: NonNullable<GitRun["killed"]>) => {
      if (killed) return;
      killed = why;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const timer = setTimeout(() => kill("timeout"), opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    child.stdout.on("data", (c: Buffer) => {
      outBytes += c.length;
      if (outBytes > maxStdout) kill("output");
      else out.push(c);
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => {
      err = (err + c).slice(-MAX_STDERR);
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run git: ${e.message}`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: killed ? null : code, stdout: Buffer.concat(out), stderr: err, killed });
    });
    // git may exit before reading all of stdin (e.g. on a bad argument): that EPIPE is not our error.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input);
  });
}

/** Like runGit, but rejects with git's stderr when it fails: for local plumbing where failure is a bug or corruption. */
export async function runGitOk(args: string[], opts: GitRunOptions = {}): Promise<Buffer> {
  const r = await runGit(args, opts);
  if (r.code !== 0) throw new Error(`git ${subcommand(args)} failed${r.killed ? ` (${r.killed})` : ""}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The subcommand in argv (skipping `-c key=value` and other leading options), for messages. */
function subcommand(args: string[]): string {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "-c" || args[i] === "-C") i++;
    else if (!args[i].startsWith("-")) return args[i];
  }
  return "";
}

/** Whether process `pid` still exists on this host (stale lock files and temp dirs name their owner's pid). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
