#!/usr/bin/env node
// flightctl-db-migrate: apply pending migrations to DATABASE_URL, or list them with --check (exit 1 if any).
// The implementation is TypeScript (db/migrate.ts); tsx compiles it on the fly.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../db/migrate.ts");
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(`flightctl-db-migrate: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
