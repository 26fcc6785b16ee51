#!/usr/bin/env node
// flightctl-alert-exporter: runs server/main/alert-exporter.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/alert-exporter.ts");
await main();
