#!/usr/bin/env node
// flightctl-alertmanager-proxy: runs server/main/alertmanager-proxy.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/alertmanager-proxy.ts");
await main();
