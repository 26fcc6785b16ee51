#!/usr/bin/env node
// flightctl-api: runs server/main/api.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/api.ts");
await main();
