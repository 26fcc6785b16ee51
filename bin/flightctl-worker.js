#!/usr/bin/env node
// flightctl-worker: runs server/main/worker.ts through tsx (the project ships TypeScript sources). `--periodic` (or
// FLIGHTCTL_PERIODIC=1) also schedules the crontab, as flightctl-periodic does.
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/worker.ts");
await main(process.argv.includes("--periodic"));
