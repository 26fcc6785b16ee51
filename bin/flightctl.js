#!/usr/bin/env node
// flightctl: the CLI. Runs the prebuilt bundle (dist/cli/flightctl.cjs, `npm run build:cli`, made at install) when it
// is newer than every project file it was built from (dist/cli/flightctl.inputs: cli/, lib/, gen/...); otherwise (or
// with FLIGHTCTL_CLI_FROM_SOURCE=1) the TypeScript sources through tsx, which is slower to start (docs/cli.md).
import { createHash } from "node:crypto";
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";

const bundle = fileURLToPath(new URL("../dist/cli/flightctl.cjs", import.meta.url));
const root = new URL("../", import.meta.url);

/**
 * Whether the bundle is there and newer than every file it was built from (the list cli/build.mjs wrote beside it).
 * A missing list or input (a file deleted or renamed since) means a stale bundle.
 */
function bundleFresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const inputs = readFileSync(`${bundle.slice(0, -".cjs".length)}.inputs`, "utf8")
      .split("\n")
      .filter(Boolean);
    return inputs.length > 0 && inputs.every((f) => statSync(new URL(f, root)).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * The command shape a run exercises, e.g. "get devices" or "version": the first one or two plain words of the
 * arguments (a resource name after "/" dropped); undefined for --help, which runs none of the verb's code.
 */
function commandShape(args) {
  if (args.includes("--help") || args.includes("-h")) return undefined;
  const words = [];
  for (const a of args.slice(0, 2)) {
    const w = a.split("/")[0];
    if (!/^[a-z][a-z-]{0,31}$/.test(w)) break;
    words.push(w);
  }
  return words.length ? words.join(" ") : undefined;
}

/**
 * Loads the CommonJS bundle through vm.Script with a V8 code cache kept next to it (flightctl.cjs.cache): compiling
 * the bundle's code is a large share of a command's start-up, and the cache holds the bytecode of every function
 * earlier runs executed. The cache is keyed by the bundle's SHA-256 (V8 itself checks only the source length) and
 * the Node version and architecture. It lists the command shapes it has seen; a successful run of a new one (or
 * any run without a usable cache) rewrites it at exit, atomically. When dist/cli/ is not writable the CLI runs
 * without it.
 */
function loadBundle(file) {
  const source = readFileSync(file, "utf8");
  const cacheFile = `${file}.cache`;
  const key = `${createHash("sha256").update(source).digest("hex")} ${process.version} ${process.arch}`;
  let seen = [];
  let cachedData;
  try {
    // Layout: the key line, a line of comma-separated command shapes, then V8's data.
    const data = readFileSync(cacheFile);
    const keyEnd = data.indexOf(10);
    const shapesEnd = data.indexOf(10, keyEnd + 1);
    if (keyEnd > 0 && shapesEnd > keyEnd && data.toString("latin1", 0, keyEnd) === key) {
      seen = data
        .toString("latin1", keyEnd + 1, shapesEnd)
        .split(",")
        .filter(Boolean);
      cachedData = data.subarray(shapesEnd + 1);
    }
  } catch {
    // no cache yet
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const usable = cachedData !== undefined && !script.cachedDataRejected;
  if (!usable) seen = [];
  const shape = commandShape(process.argv.slice(2));
  if (!usable || (shape && !seen.includes(shape))) {
    process.once("exit", (code) => {
      const shapes = code === 0 && shape && !seen.includes(shape) ? [...seen, shape] : seen;
      if (usable && shapes === seen) return; // a failed run: nothing worth keeping
      const tmp = `${cacheFile}.${process.pid}`;
      try {
        writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n${shapes.join(",")}\n`, "latin1"), script.createCachedData()]));
        renameSync(tmp, cacheFile);
      } catch {
        rmSync(tmp, { force: true }); // read-only install: run without a cache
      }
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}

let run;
if (!process.env.FLIGHTCTL_CLI_FROM_SOURCE && bundleFresh()) {
  ({ run } = loadBundle(bundle));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ run } = await import("../cli/main.ts"));
}
await run();
