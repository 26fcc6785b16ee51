#!/usr/bin/env node
// flightctl-worker: runs server/main/worker.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/worker.ts");
await main();
