#!/usr/bin/env node
// flightctl-userinfo-proxy: runs server/main/userinfo-proxy.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/userinfo-proxy.ts");
await main();
