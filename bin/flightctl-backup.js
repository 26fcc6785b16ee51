#!/usr/bin/env node
// flightctl-backup: see server/main/backup-restore.ts and docs/operations.md ("Backup and restore").
// The implementation is TypeScript; tsx compiles it on the fly.
import { register } from "tsx/esm/api";

register();
const { backupMain } = await import("../server/main/backup-restore.ts");
try {
  process.exitCode = await backupMain(process.argv.slice(2));
} catch (err) {
  console.error(`flightctl-backup: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
