#!/usr/bin/env node
// flightctl-periodic: runs server/main/periodic.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/periodic.ts");
await main();
