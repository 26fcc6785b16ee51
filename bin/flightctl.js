#!/usr/bin/env node
// flightctl: the CLI. Runs the prebuilt bundle (dist/cli/flightctl.mjs, `npm run build:cli`, made at install) when it
// is newer than every file under cli/; otherwise (or with FLIGHTCTL_CLI_FROM_SOURCE=1) the TypeScript sources
// through tsx, which is slower to start (docs/cli.md).
import { existsSync, readdirSync, statSync } from "node:fs";

const bundle = new URL("../dist/cli/flightctl.mjs", import.meta.url);
const sources = new URL("../cli/", import.meta.url);

/** Newest modification time under cli/ (two levels: cli/*.ts and cli/commands/*.ts). */
function newestSource() {
  let newest = 0;
  for (const dir of [sources, new URL("commands/", sources)]) {
    for (const f of readdirSync(dir)) newest = Math.max(newest, statSync(new URL(f, dir)).mtimeMs);
  }
  return newest;
}

let run;
if (!process.env.FLIGHTCTL_CLI_FROM_SOURCE && existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource()) {
  ({ run } = await import(bundle.href));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ run } = await import("../cli/main.ts"));
}
await run();
