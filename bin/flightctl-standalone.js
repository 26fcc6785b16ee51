#!/usr/bin/env node
// flightctl-standalone: runs server/standalone/cli.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/standalone/cli.ts");
process.exitCode = main(process.argv.slice(2));
