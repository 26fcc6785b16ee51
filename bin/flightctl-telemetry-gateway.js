#!/usr/bin/env node
// flightctl-telemetry-gateway: runs server/main/telemetry-gateway.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/telemetry-gateway.ts");
await main();
