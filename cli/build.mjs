// Bundles the CLI into dist/cli/ with esbuild (one entry, one chunk per lazily imported verb), so `flightctl` starts
// without compiling TypeScript at run time. `npm run build:cli`; also run at install (postinstall) and by the CLI tests.
import { build } from "esbuild";
import { rmSync } from "node:fs";

const outdir = new URL("../dist/cli/", import.meta.url).pathname;
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { flightctl: new URL("./main.ts", import.meta.url).pathname },
  outdir,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: 'import { createRequire as __flightctlRequire } from "node:module"; const require = __flightctlRequire(import.meta.url);' },
});
