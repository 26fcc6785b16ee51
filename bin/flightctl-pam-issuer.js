#!/usr/bin/env node
// flightctl-pam-issuer: runs server/main/pam-issuer.ts through tsx (the project ships TypeScript sources).
import { register } from "tsx/esm/api";
register();
const { main } = await import("../server/main/pam-issuer.ts");
await main();
