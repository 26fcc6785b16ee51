// Bundles the CLI into one CommonJS file, dist/cli/flightctl.cjs, with esbuild, so `flightctl` starts without
// compiling TypeScript at run time. `npm run build:cli`; also run at install (postinstall) and by the CLI tests.
// One file rather than an ESM chunk per verb: bin/flightctl.js compiles it through vm.Script with a V8 code cache
// (which Node 20 offers only for scripts, not for ES modules), and verbs still initialise lazily: esbuild turns each
// `import("./commands/<verb>.js")` into a module wrapper that runs only when that verb is picked.
// Next to the bundle, flightctl.inputs lists the project files it was built from (one path a line, relative to the
// repository root; node_modules left out, since installing runs this build): bin/flightctl.js runs the bundle only
// while none of them is newer, whichever folder (cli/, lib/, gen/) it is in.
import { build } from "esbuild";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";

const outdir = new URL("../dist/cli/", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true }); // the old bundle and its code cache
const result = await build({
  entryPoints: [new URL("./main.ts", import.meta.url).pathname],
  outfile: `${outdir}flightctl.cjs`,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  // Connect's use of the global Headers would load undici (Node's fetch) on every run; see cli/web-headers.ts.
  inject: [new URL("./web-headers.ts", import.meta.url).pathname],
});
// esbuild's input paths are relative to the working directory; the list is relative to the repository root.
const root = new URL("../", import.meta.url).pathname;
const inputs = Object.keys(result.metafile.inputs)
  .map((p) => path.relative(root, path.resolve(p)))
  .filter((p) => !p.split(path.sep).includes("node_modules"));
writeFileSync(`${outdir}flightctl.inputs`, `${inputs.sort().join("\n")}\n`);
