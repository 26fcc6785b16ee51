// The test runner's first step: the system packages the selected tests need (test/system-packages.txt, the list
// .ci/run installs from) are checked before any database starts, so a missing one stops `npm test` at once with one
// line naming the packages and the command that installs them, rather than as a failure or a cancellation minutes in.
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

export interface SystemPackage {
  name: string;
  /** "build", "ci", or test path prefixes ("*": every test). */
  when: string[];
  checks: string[];
}

export const PACKAGES_FILE = new URL("./system-packages.txt", import.meta.url);

export function readPackages(text = readFileSync(PACKAGES_FILE, "utf8")): SystemPackage[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const [name, when, checks] = l.split(/\s+/);
      return { name, when: when.split(","), checks: checks.split(",") };
    });
}

function onPath(cmd: string, envPath: string): boolean {
  return envPath
    .split(path.delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(path.join(dir, cmd), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Whether one check passes: a command in PATH, an existing absolute path, or a loadable native module. */
function passes(check: string, root: string, env: NodeJS.ProcessEnv): boolean {
  if (check.startsWith("node:")) {
    try {
      createRequire(path.join(root, "package.json"))(check.slice("node:".length));
      return true;
    } catch {
      return false;
    }
  }
  // The browser tests take another Chromium from CHROMIUM_PATH (test/e2e/browser.ts).
  if (check === "/usr/bin/chromium" && env.CHROMIUM_PATH) return existsSync(env.CHROMIUM_PATH);
  if (check.startsWith("/")) return existsSync(check);
  return onPath(check, env.PATH ?? "");
}

/** The packages some of `testFiles` (paths relative to the repository root) need and this machine lacks. */
export function missingPackages(
  testFiles: string[],
  opts: { root: string; env?: NodeJS.ProcessEnv; packages?: SystemPackage[] },
): { missing: SystemPackage[]; rebuild: string[] } {
  const env = opts.env ?? process.env;
  const files = testFiles.map((f) => path.relative(opts.root, path.resolve(opts.root, f)).split(path.sep).join("/"));
  const needed = (p: SystemPackage) => p.when.some((w) => w === "*" || files.some((f) => f.startsWith(w)));
  const missing: SystemPackage[] = [];
  const rebuild = new Set<string>();
  for (const p of opts.packages ?? readPackages()) {
    if (!needed(p)) continue;
    const failed = p.checks.filter((c) => !passes(c, opts.root, env));
    if (failed.length === 0) continue;
    missing.push(p);
    // Installed but the native module was built before its headers were there: it only needs a rebuild.
    for (const c of failed) if (c.startsWith("node:")) rebuild.add(c.slice("node:".length));
  }
  return { missing, rebuild: [...rebuild] };
}

/** The one line printed when something is missing, or undefined when all is there. */
export function preflightMessage(testFiles: string[], opts: { root: string; env?: NodeJS.ProcessEnv; uid?: number }): string | undefined {
  const { missing, rebuild } = missingPackages(testFiles, opts);
  if (missing.length === 0) return undefined;
  const names = missing.map((p) => p.name).join(" ");
  const sudo = (opts.uid ?? process.getuid?.()) === 0 ? "" : "sudo ";
  const then = rebuild.length ? ` && npm rebuild ${rebuild.join(" ")}` : "";
  return `missing system packages for these tests: ${names}; install them with: ${sudo}apt-get install -y ${names}${then} (the list: test/system-packages.txt)`;
}
