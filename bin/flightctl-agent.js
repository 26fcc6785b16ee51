#!/usr/bin/env node
// flightctl-agent: runs agent/main.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../agent/main.ts");
const { runMain } = await import("citty");
await runMain(main);
