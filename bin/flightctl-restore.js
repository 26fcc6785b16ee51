#!/usr/bin/env node
// flightctl-restore: see server/main/backup-restore.ts and docs/operations.md ("Backup and restore").
// The implementation is TypeScript; tsx compiles it on the fly.
import { register } from "tsx/esm/api";

register();
const { restoreMain } = await import("../server/main/backup-restore.ts");
try {
  process.exitCode = await restoreMain(process.argv.slice(2));
} catch (err) {
  console.error(`flightctl-restore: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
