// Everything the agent does to its host goes through these two small interfaces, so tests and the simulator run
// without a real device: a file system rooted at a prefix (FLIGHTCTL_TEST_ROOT_DIR, as flightctl's agent), and a
// command executor whose real form runs podman/systemctl/bootc and whose recording form only writes down what
// would run.
import { execFile } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, normalize, posix } from "node:path";

/** Paths the spec may not write: the agent's own identity, state and configuration. */
export const FORBIDDEN_PATHS = ["/var/lib/flightctl", "/etc/flightctl/certs", "/etc/flightctl/config.yaml", "/usr/lib/flightctl", "/proc", "/sys", "/dev"];

export class PathError extends Error {}

/** Checks a device path from a spec: absolute, no traversal, not one of the agent's own. */
export function checkDevicePath(path: string): string {
  if (!path.startsWith("/")) throw new PathError(`path "${path}" must be absolute`);
  if (path.split("/").includes("..")) throw new PathError(`path "${path}" must not contain ".."`);
  const clean = posix.normalize(path);
  for (const f of FORBIDDEN_PATHS) {
    if (clean === f || clean.startsWith(`${f}/`)) throw new PathError(`path "${path}" is reserved for the agent (${f})`);
  }
  return clean;
}

export interface HostFs {
  /** Where device path `p` lives on this machine. */
  real(p: string): string;
  read(p: string): Buffer | undefined;
  /** Writes atomically (temp file, mode/owner, rename); creates parent directories 0755. */
  write(p: string, data: Buffer | string, opts?: { mode?: number; uid?: number; gid?: number }): void;
  remove(p: string): void;
  exists(p: string): boolean;
  mode(p: string): number | undefined;
}

/** The host file system under `root` ("/" on a device, a temp dir in tests and the simulator). */
export function rootedFs(root: string): HostFs {
  const real = (p: string) => join(root, normalize(p));
  return {
    real,
    read: (p) => (existsSync(real(p)) ? readFileSync(real(p)) : undefined),
    write(p, data, opts = {}) {
      const target = real(p);
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      const tmp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
      writeFileSync(tmp, data, { mode: opts.mode ?? 0o644 });
      // writeFileSync's mode is filtered by the umask; chmod sets exactly what the spec says (setuid etc. too).
      chmodSync(tmp, opts.mode ?? 0o644);
      if (opts.uid !== undefined || opts.gid !== undefined) chownSync(tmp, opts.uid ?? 0, opts.gid ?? 0);
      renameSync(tmp, target);
    },
    remove: (p) => rmSync(real(p), { force: true, recursive: true }),
    exists: (p) => existsSync(real(p)),
    mode: (p) => (existsSync(real(p)) ? statSync(real(p)).mode & 0o7777 : undefined),
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Executor {
  run(cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<CommandResult>;
}

/** Runs real commands (no shell). */
export const realExecutor: Executor = {
  run: (cmd, args, opts = {}) =>
    new Promise((resolve) => {
      execFile(cmd, args, { timeout: opts.timeoutMs ?? 10 * 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : 127) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr || (err && !stderr ? err.message : "")) });
      });
    }),
};

/**
 * Records what would run and answers success, except for commands whose text matches `failOn` (tests use it to
 * make an application fail). What it answers for `systemctl show` and `bootc status` keeps status reporting working.
 */
export function recordingExecutor(opts: { failOn?: RegExp } = {}): Executor & { commands: string[] } {
  const commands: string[] = [];
  return {
    commands,
    async run(cmd, args) {
      const line = [cmd, ...args].join(" ");
      commands.push(line);
      if (opts.failOn?.test(line)) return { code: 1, stdout: "", stderr: `simulated failure: ${line}` };
      return { code: 0, stdout: "", stderr: "" };
    },
  };
}
