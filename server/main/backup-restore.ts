// The flightctl-backup and flightctl-restore commands: settings from server/config.ts (DATABASE_URL, FLIGHTCTL_DATA_DIR,
// FLIGHTCTL_AUTH_CONFIG, FLIGHTCTL_REDIS_URL, FLIGHTCTL_PG_BIN_DIR), progress and the report on stdout/stderr. Without
// DATABASE_URL they work on the embedded default's cluster in <data dir>/postgres (a physical backup).
// Exit codes: 0 done, 1 failed or refused (nothing changed), 2 bad usage or settings, 3 restored but not everything
// after it was done (the report says what is left).
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Env, type ServerConfig } from "../config.js";
import { backup } from "../backup/backup.js";
import { restore, type RestoreReport } from "../backup/restore.js";

const BACKUP_USAGE = `usage: flightctl-backup [--output DIR]
  writes DIR/flightctl-backup-<time>.tar and its .sha256 (default DIR: the current directory):
  the database (pg_dump of DATABASE_URL; unset: a physical copy of the embedded default's cluster), the PKI and keys
  of FLIGHTCTL_DATA_DIR, the auth config; safe while the service runs`;

const RESTORE_USAGE = `usage: flightctl-restore [--keep-old-db] ARCHIVE
  verifies ARCHIVE against ARCHIVE.sha256, restores it into a fresh database that replaces DATABASE_URL's, puts the
  PKI and keys back into FLIGHTCTL_DATA_DIR and prepares every device to reconnect. The service must be stopped.
  --keep-old-db  keep the replaced database as <db>_old_<time>`;

type Out = { out: (s: string) => void; err: (s: string) => void };
const stdio: Out = { out: (s) => process.stdout.write(`${s}\n`), err: (s) => process.stderr.write(`${s}\n`) };

function settings(name: string, env: Env, io: Out): ServerConfig | undefined {
  try {
    return loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) {
      io.err(`${name}: invalid configuration: ${e.message}`);
      return undefined;
    }
    throw e;
  }
}

export async function backupMain(argv: string[], env: Env = process.env, io: Out = stdio): Promise<number> {
  let values: { output?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ args: argv, options: { output: { type: "string", short: "o" }, help: { type: "boolean", short: "h" } } }));
  } catch (e) {
    io.err(`${(e as Error).message}\n${BACKUP_USAGE}`);
    return 2;
  }
  if (values.help) return (io.out(BACKUP_USAGE), 0);
  const config = settings("flightctl-backup", env, io);
  if (!config) return 2;
  const r = await backup({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    authConfig: config.api.authConfig,
    outDir: values.output ?? ".",
    pgBinDir: config.pgBinDir,
    log: io.err,
  });
  io.out(`${r.archive}\n${r.archive}.sha256  sha256 ${r.checksum}`);
  io.out(`  schema ${r.metadata.schema.tag}, flightctl ${r.metadata.project.version}, ${r.metadata.files.length} data file(s)`);
  return 0;
}

/** The restore's report, one line per step; `partial` lines say what was not done. */
export function restoreReportLines(r: RestoreReport): { lines: string[]; partial: string[] } {
  const lines = [
    `restored the backup of ${r.metadata.createdAt} (flightctl ${r.metadata.project.version}, schema ${r.metadata.schema.tag})`,
    `  database ${r.database}: replaced${r.oldDatabase ? `; the previous one is kept as ${r.oldDatabase}` : "; the previous one was dropped"}`,
  ];
  if (r.migrated.length) lines.push(`  migrations applied to the restored database: ${r.migrated.join(", ")}`);
  lines.push(`  PKI, keys and config: ${r.filesRestored} file(s) restored`);
  if (r.keptAside.length) lines.push(`    replaced files kept as: ${r.keptAside.join(", ")}`);
  lines.push(
    `  devices: ${r.prepared.devices} set AwaitingReconnect (last seen cleared); enrollment requests: ${r.prepared.enrollmentRequests} marked; SystemRestored event written`,
  );
  const partial: string[] = [];
  if ("dropped" in r.cache) lines.push(`  Redis: ${r.cache.dropped} cached key(s) of this project dropped`);
  else if ("skipped" in r.cache) lines.push(`  Redis: ${r.cache.skipped}`);
  else
    partial.push(
      `  NOT DONE: dropping this project's cached content from Redis (${r.cache.error}). The database, PKI and device ` +
        "preparation are complete. Before starting the service, drop the keys by hand: " +
        "redis-cli --scan --pattern 'flightctl:frozen:*' | xargs -r redis-cli unlink; same for 'flightctl:console:*'",
    );
  return { lines, partial };
}

export async function restoreMain(argv: string[], env: Env = process.env, io: Out = stdio): Promise<number> {
  let parsed: { values: { "keep-old-db"?: boolean; help?: boolean }; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { "keep-old-db": { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (e) {
    io.err(`${(e as Error).message}\n${RESTORE_USAGE}`);
    return 2;
  }
  if (parsed.values.help) return (io.out(RESTORE_USAGE), 0);
  if (parsed.positionals.length !== 1) {
    io.err(`flightctl-restore: give exactly one archive\n${RESTORE_USAGE}`);
    return 2;
  }
  const config = settings("flightctl-restore", env, io);
  if (!config) return 2;
  const r = await restore({
    archive: parsed.positionals[0],
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    authConfig: config.api.authConfig,
    redisUrl: config.redisUrl,
    pgBinDir: config.pgBinDir,
    keepOldDb: parsed.values["keep-old-db"],
    log: io.err,
  });
  const { lines, partial } = restoreReportLines(r);
  for (const l of lines) io.out(l);
  if (!partial.length) return 0;
  io.out("restore PARTIALLY complete:");
  for (const l of partial) io.out(l);
  return 3;
}
