// Everything the agent does to its host goes through these two small interfaces, so tests and the simulator run
// without a real device: a file system rooted at a prefix (FLIGHTCTL_TEST_ROOT_DIR, as flightctl's agent), and a
// command executor whose real form runs podman/systemctl/bootc and whose recording form only writes down what
// would run.
import { execFile, spawn, type ExecFileException } from "node:child_process";
import { createInterface } from "node:readline";
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { delimiter, dirname, join, normalize, posix } from "node:path";

/** Paths the spec may not write: the agent's own identity, state and configuration. */
export const FORBIDDEN_PATHS = [
  "/var/lib/flightctl",
  "/etc/flightctl/certs",
  "/etc/flightctl/config.yaml",
  "/usr/lib/flightctl",
  "/proc",
  "/sys",
  "/dev",
];

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
  /** Creates directory `p` (and its parents, 0755). */
  mkdir(p: string): void;
  exists(p: string): boolean;
  mode(p: string): number | undefined;
  /** Names of the entries of directory `p`, sorted; none when it does not exist. */
  list(p: string): string[];
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
    mkdir: (p) => mkdirSync(real(p), { recursive: true, mode: 0o755 }),
    exists: (p) => existsSync(real(p)),
    mode: (p) => (existsSync(real(p)) ? statSync(real(p)).mode & 0o7777 : undefined),
    list: (p) => (existsSync(real(p)) && statSync(real(p)).isDirectory() ? readdirSync(real(p)).sort() : []),
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Added to the agent's environment. */
  env?: Record<string, string>;
  cwd?: string;
}

/** What a long-running command (`podman events`) tells its reader. */
export interface StreamCallbacks {
  /** One line of its standard output, without the newline. */
  onLine(line: string): void;
  /** It ended (or could not start): its exit code (null when killed by a signal) and the tail of its stderr. */
  onExit(code: number | null, stderr: string): void;
}

/** A running long-lived command. */
export interface StreamHandle {
  /** Ends it (SIGTERM); onExit is not called for an ending asked for here. */
  stop(): void;
}

export interface Executor {
  run(cmd: string, args: string[], opts?: RunOptions): Promise<CommandResult>;
  /** Starts a command that runs until stopped, handing over its output line by line. */
  stream(cmd: string, args: string[], cb: StreamCallbacks, opts?: Pick<RunOptions, "env">): StreamHandle;
  /** Whether `cmd` can run here (hooks whose program is not installed are skipped, as flightctl does). */
  available(cmd: string): boolean;
  /**
   * Asks the host to reboot; it returns once the request is taken, and the agent is ended by the reboot. Without it the
   * agent runs `systemctl reboot`; tests give one that "boots" a fake bootc and restarts the agent.
   */
  reboot?(): Promise<CommandResult>;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

/** Runs real commands (no shell). A command still running at its timeout is killed and answers code 124. */
export const realExecutor: Executor = {
  run: (cmd, args, opts = {}) =>
    new Promise((resolve) => {
      const timeout = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const env = opts.env ? { ...process.env, ...opts.env } : undefined;
      execFile(cmd, args, { timeout, env, cwd: opts.cwd, maxBuffer: 16 << 20 }, (err: ExecFileException | null, stdout, stderr) => {
        if (!err) return resolve({ code: 0, stdout: String(stdout), stderr: String(stderr) });
        const code = typeof err.code === "number" ? err.code : err.killed ? 124 : 127;
        const why = err.killed ? `timed out after ${timeout} ms` : err.message;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) || why });
      });
    }),
  stream(cmd, args, cb, opts = {}) {
    const env = opts.env ? { ...process.env, ...opts.env } : undefined;
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let stopped = false;
    let ended = false;
    const end = (code: number | null, why = "") => {
      if (ended) return;
      ended = true;
      if (!stopped) cb.onExit(code, (stderr.trim() || why).slice(-2000));
    };
    // Only the tail of stderr is kept: a stream can run for days.
    child.stderr.on("data", (d: Buffer) => {
      stderr = (stderr + String(d)).slice(-4000);
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!stopped) cb.onLine(line);
    });
    child.on("error", (e) => end(127, e.message));
    child.on("close", (code) => end(code));
    return {
      stop() {
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      },
    };
  },
  available(cmd) {
    const candidates = cmd.includes("/")
      ? [cmd]
      : (process.env.PATH ?? "")
          .split(delimiter)
          .filter(Boolean)
          .map((d) => join(d, cmd));
    return candidates.some((p) => {
      try {
        accessSync(p, constants.X_OK);
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
  },
  reboot: () => realExecutor.run("systemctl", ["reboot"]),
};

export interface RecordingExecutor extends Executor {
  /** Every command line run, in order. */
  commands: string[];
  /**
   * Commands whose line matches fail; tests set and clear it (an application that cannot start, a pull that fails).
   * `podman image exists` is a query of the image store below, not subject to it.
   */
  failOn?: RegExp;
  /** Images `podman image exists` reports absent until a `podman pull` of them succeeds; every other one is present. */
  missingImages: Set<string>;
  /** Command lines of the long-running commands started (none runs: their streams stay silent until stopped). */
  streams: string[];
}

/**
 * Records what would run and answers success, except for commands matching `failOn`. Its image store has every
 * image but `missingImages`, so prefetch on a simulated device pulls nothing unless a test says otherwise; every
 * image unpacked as an application package holds one compose file running that image.
 */
export function recordingExecutor(
  opts: {
    failOn?: RegExp;
    missingImages?: Iterable<string>;
    /** Where an unpacked package's files go (default: the real path given to `podman cp`; the simulator: its memory host). */
    unpack?: (realDir: string, name: string, content: string) => void;
  } = {},
): RecordingExecutor {
  // Containers created to unpack an application image (agent/apps/image-files.ts), by id → image: a `podman cp` out of
  // one writes what a compose application package holds, a compose file running that image.
  const packages = new Map<string, string>();
  const unpack =
    opts.unpack ??
    ((dir: string, name: string, content: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, name), content);
    });
  const exec: RecordingExecutor = {
    commands: [],
    failOn: opts.failOn,
    missingImages: new Set(opts.missingImages),
    streams: [],
    async run(cmd, args) {
      const line = [cmd, ...args].join(" ");
      exec.commands.push(line);
      if (cmd === "podman" && args[0] === "image" && args[1] === "exists")
        return { code: exec.missingImages.has(args[2]) ? 1 : 0, stdout: "", stderr: "" };
      if (exec.failOn?.test(line)) return { code: 1, stdout: "", stderr: `simulated failure: ${line}` };
      if (cmd === "podman" && args[0] === "pull") exec.missingImages.delete(args[1]);
      if (cmd === "podman" && args[0] === "create") {
        const image = args.filter((a, i) => !a.startsWith("-") && args[i - 1] !== "--pull")[1] ?? "";
        packages.set(`recorded-${packages.size}`, image);
        return { code: 0, stdout: `recorded-${packages.size - 1}\n`, stderr: "" };
      }
      const copied = cmd === "podman" && args[0] === "cp" ? packages.get(args[1].split(":")[0]) : undefined;
      if (copied !== undefined) unpack(args[2], "docker-compose.yaml", `services:\n  app:\n    image: ${copied}\n`);
      return { code: 0, stdout: "", stderr: "" };
    },
    stream(cmd, args) {
      exec.streams.push([cmd, ...args].join(" "));
      return { stop() {} };
    },
    available: () => true,
  };
  return exec;
}
