// Bundles the CLI into one CommonJS file, dist/cli/flightctl.cjs, with esbuild, so `flightctl` starts without
// compiling TypeScript at run time. `npm run build:cli`; also run at install (postinstall) and by the CLI tests.
// One file rather than an ESM chunk per verb: bin/flightctl.js compiles it through vm.Script with a V8 code cache
// (which Node 20 offers only for scripts, not for ES modules), and verbs still initialise lazily: esbuild turns each
// `import("./commands/<verb>.js")` into a module wrapper that runs only when that verb is picked.
import { build } from "esbuild";
import { rmSync } from "node:fs";

const outdir = new URL("../dist/cli/", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true }); // the old bundle and its code cache
await build({
  entryPoints: [new URL("./main.ts", import.meta.url).pathname],
  outfile: `${outdir}flightctl.cjs`,
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // Connect's use of the global Headers would load undici (Node's fetch) on every run; see cli/web-headers.ts.
  inject: [new URL("./web-headers.ts", import.meta.url).pathname],
});
