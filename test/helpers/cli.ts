// Running the real flightctl binary (bin/flightctl.js, on the esbuild bundle) as a child process, with its
// configuration in a temporary directory.
import { spawn, execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/flightctl.js", import.meta.url));

/** Builds dist/cli so the tests run what users run (bin/flightctl.js prefers a bundle newer than cli/). */
export function buildCli(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL("../../cli/build.mjs", import.meta.url))], { stdio: "inherit" });
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `flightctl ...args` (async: the API under test runs in this process and must keep answering). */
export function runCli(
  configDir: string,
  args: string[],
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, FLIGHTCTL_CONFIG_DIR: configDir, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}
