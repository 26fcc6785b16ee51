// The simulator's worker threads run a prebuilt bundle of agent/sim-worker.ts (dist/agent/sim-worker.mjs, one ES
// module; packages stay outside it) rather than the TypeScript sources through tsx: tsx compiles with esbuild's
// `keepNames`, which wraps every function an agent creates in a `__name(fn, "name")` call (a defineProperty each,
// ≈ 15 KB of heap per agent; RESULTS.md, branch simconn). The bundle's first line lists the project files it was
// built from; it is used only while none of them is newer, and built again (≈ 0.3 s) when one is, so an edited tree,
// a fresh clone and the tests run current code. Built at install too (`npm run build:agent`, postinstall).
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const source = path.join(root, "agent/sim-worker.ts");
export const workerBundle = path.join(root, "dist/agent/sim-worker.mjs");
const HEADER = "// flightctl simulator thread, built from: ";

/** The project files (relative to the repository root) a bundle says it was built from; undefined if none. */
function bundleInputs(file: string): string[] | undefined {
  try {
    const first = readFileSync(file, "utf8").split("\n", 1)[0];
    if (!first.startsWith(HEADER)) return undefined;
    const inputs = JSON.parse(first.slice(HEADER.length)) as string[];
    return inputs.length ? inputs : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the bundle is there and newer than every file it was built from (a missing input means stale). */
export function bundleFresh(file = workerBundle, base = root): boolean {
  const inputs = bundleInputs(file);
  if (!inputs) return false;
  try {
    const built = statSync(file).mtimeMs;
    return inputs.every((f) => statSync(path.join(base, f)).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * Builds the bundle (esbuild, tsx's own compiler), written under a temporary name and renamed, so a simulator
 * starting beside another one never loads a half-written file.
 */
export async function buildWorkerBundle(out = workerBundle): Promise<void> {
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [source],
    outfile: out,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    write: false,
    metafile: true,
    legalComments: "none",
    logLevel: "warning",
  });
  // esbuild's input paths are relative to the working directory; the list is relative to the repository root.
  const inputs = Object.keys(result.metafile.inputs)
    .map((p) => path.relative(root, path.resolve(p)))
    .filter((p) => !p.split(path.sep).includes("node_modules"))
    .sort();
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${HEADER}${JSON.stringify(inputs)}\n${result.outputFiles[0].text}`);
    renameSync(tmp, out);
  } finally {
    rmSync(tmp, { force: true });
  }
}

// Node 20 gives a worker none of the main thread's loader hooks (and `--import tsx` in its execArgv does not apply
// to its entry), so the sources' way registers tsx's loader in the thread first.
const fromSources = `import(${JSON.stringify(import.meta.resolve("tsx/esm/api"))}).then((t) => { t.register(); return import(${JSON.stringify(
  new URL("./sim-worker.ts", import.meta.url).href,
)}); })`;

/** A Worker's first argument, and whether it is code (`eval`) rather than a file. */
export type WorkerEntry = { entry: string; eval: boolean };

/**
 * What a simulator thread runs: the bundle, built first if it is missing or older than a source; the sources
 * through tsx if it cannot be built (a read-only install, say: `onFallback` hears why).
 */
export async function workerEntry(onFallback: (err: Error) => void, bundle = workerBundle): Promise<WorkerEntry> {
  if (!bundleFresh(bundle)) {
    try {
      await buildWorkerBundle(bundle);
    } catch (e) {
      onFallback(e as Error);
      return { entry: fromSources, eval: true };
    }
  }
  return { entry: bundle, eval: false };
}

// `npm run build:agent` (and postinstall): node --import tsx agent/sim-bundle.ts
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await buildWorkerBundle();
