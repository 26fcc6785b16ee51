// flightctl-restore: the archive is verified (checksum, then metadata: a schema newer than this code is refused), the
// dump is loaded into a FRESH database which is migrated and prepared (flightctl's post-restore device preparation),
// and only then swapped in by renaming both databases in one transaction: until that commit the old database is
// untouched, so a failure at any step leaves the service's data as it was. The PKI and keys go back into the data dir
// (the replaced files are kept beside them), and this project's cached content is dropped from Redis.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { journal, migrate } from "../../db/migrate.js";
import { createDb } from "../platform/db.js";
import { ArchiveError, extractTar, parseMetadata, verifyChecksum, type BackupMetadata } from "./archive.js";
import { createServerStore, TOOL_APPLICATION, type Connection } from "./backup-store.js";
import { prepareRestoredDevices, type PreparedCounts } from "./prepare-devices.js";
import { connectTool, stamp } from "./backup-connect.js";
import { clusterDir, restoreCluster } from "./embedded-cluster.js";
import { purgeProjectKeys } from "./cache-purge.js";
import { checkToolMajor, databaseOf, pgEnv, run, toolPath, withDatabase, withProgress } from "./pg-tools.js";

export interface RestoreOptions {
  archive: string;
  /** The service's database; it is replaced. Unset: the embedded default's cluster in <dataDir>/postgres. */
  databaseUrl?: string;
  /** The service's data dir: the archive's PKI and keys are written here. */
  dataDir: string;
  /** Where the archive's auth config goes (unset: the path it was backed up from). */
  authConfig?: string;
  /** FLIGHTCTL_REDIS_URL; unset: nothing cached outside the processes, nothing to drop. */
  redisUrl?: string;
  pgBinDir?: string;
  /** Keep the replaced database as <db>_old_<time> (default: dropped once the new one is in place). */
  keepOldDb?: boolean;
  log: (line: string) => void;
}

/** A restore refused before anything changed; the message says why and what to do. */
export class RestoreRefused extends Error {
  override name = "RestoreRefused";
}

export interface RestoreReport {
  metadata: BackupMetadata;
  database: string;
  /** The replaced database, when kept. */
  oldDatabase?: string;
  /** Migrations applied to the restored database (it came from an older version of this code). */
  migrated: string[];
  prepared: PreparedCounts;
  filesRestored: number;
  /** Where the replaced data-dir entries were kept. */
  keptAside: string[];
  /** Keys dropped from Redis; an error when Redis could not be reached (the rest of the restore stands). */
  cache: { dropped: number } | { error: string } | { skipped: "no Redis configured" };
}

const describe = (c: Connection[]) => c.map((x) => `${x.application} from ${x.client} (${x.count})`).join(", ");

function refuseRunning(database: string, conns: Connection[]): void {
  if (!conns.length) return;
  const n = conns.reduce((a, c) => a + c.count, 0);
  throw new RestoreRefused(
    `refusing to restore onto a running service: ${n} connection(s) to database ${database}: ${describe(conns)}. ` +
      "Stop flightctl-api, flightctl-worker, flightctl-periodic and flightctl-telemetry-gateway (or npm start) first.",
  );
}

/** Refuses a backup whose schema this code does not know (written by a newer version). */
export function checkSchema(meta: BackupMetadata): void {
  const entries = journal();
  const last = entries.at(-1)!;
  if (meta.schema.when > last.when || !entries.some((e) => e.when === meta.schema.when))
    throw new RestoreRefused(
      `the backup's schema (${meta.schema.tag}, from flightctl ${meta.project.version}) is newer than this code's (${last.tag}): ` +
        `restore it with flightctl ${meta.project.version} or later`,
    );
}

/** A database name of at most 63 bytes (Postgres truncates longer ones silently). */
const dbName = (base: string, suffix: string) => `${base.slice(0, 63 - suffix.length)}${suffix}`;

/** Copies each `from` over its `target`, keeping what it replaces beside it; returns an undo. */
function placeFiles(pairs: { from: string; target: string }[], tag: string): { count: number; keptAside: string[]; undo(): void } {
  const moved: { target: string; aside?: string }[] = [];
  let count = 0;
  for (const { from, target } of pairs) {
    let aside: string | undefined;
    if (existsSync(target)) {
      aside = `${target}.pre-restore-${tag}`;
      renameSync(target, aside);
    }
    moved.push({ target, aside });
    cpSync(from, target, { recursive: true, preserveTimestamps: true });
    count += countFiles(target);
  }
  return {
    count,
    keptAside: moved.flatMap((m) => (m.aside ? [m.aside] : [])),
    undo() {
      for (const m of moved.reverse()) {
        rmSync(m.target, { recursive: true, force: true });
        if (m.aside) renameSync(m.aside, m.target);
      }
    },
  };
}

function countFiles(p: string): number {
  if (!statSync(p).isDirectory()) return 1;
  return readdirSync(p).reduce((n, e) => n + countFiles(join(p, e)), 0);
}

/** Brings the restored database to this code's schema and prepares its devices (in the fresh database, before the swap). */
async function prepareDatabase(url: string, log: (l: string) => void): Promise<{ applied: string[]; prepared: PreparedCounts }> {
  const { applied } = await migrate(url, { log: (l) => log(`migration: ${l}`) });
  const pool = new pg.Pool({ connectionString: url, max: 1, application_name: TOOL_APPLICATION });
  pool.on("error", () => {});
  try {
    const prepared = await prepareRestoredDevices(createDb(pool));
    log(`prepared ${prepared.devices} device(s) and ${prepared.enrollmentRequests} enrollment request(s) for reconnection`);
    return { applied, prepared };
  } finally {
    await pool.end();
  }
}

/** The archive's data-dir entries and auth config, each with where it goes. */
function archivedFiles(work: string, opts: RestoreOptions, metadata: BackupMetadata) {
  const data = join(work, "data");
  const pairs = existsSync(data) ? readdirSync(data).map((e) => ({ from: join(data, e), target: join(opts.dataDir, e) })) : [];
  const authTarget = opts.authConfig ?? metadata.authConfig;
  if (authTarget && existsSync(join(work, "config", "auth.yaml")))
    pairs.push({ from: join(work, "config", "auth.yaml"), target: authTarget });
  mkdirSync(opts.dataDir, { recursive: true });
  return pairs;
}

/** Drops this project's keys from Redis; an unreachable Redis is reported, not thrown (the restore itself stands). */
async function purgeCache(opts: RestoreOptions, report: RestoreReport): Promise<RestoreReport> {
  if (!opts.redisUrl) return report;
  try {
    report.cache = { dropped: await purgeProjectKeys(opts.redisUrl) };
  } catch (e) {
    report.cache = { error: `cannot reach Redis at ${new URL(opts.redisUrl).host}: ${(e as Error).message}` };
  }
  return report;
}

/** The embedded default: its cluster is recovered beside the current one, prepared, then swapped in (embedded-cluster.ts). */
async function restoreEmbedded(opts: RestoreOptions, metadata: BackupMetadata, work: string, tag: string): Promise<RestoreReport> {
  const { result, oldDir } = await restoreCluster({
    dataDir: opts.dataDir,
    from: join(work, "db"),
    tag,
    keepOld: opts.keepOldDb,
    prepare: (url) => prepareDatabase(url, opts.log),
    refuse: (m) => new RestoreRefused(m),
  });
  opts.log(`embedded cluster ${clusterDir(opts.dataDir)} replaced`);
  const files = placeFiles(archivedFiles(work, opts, metadata), tag);
  return purgeCache(opts, {
    metadata,
    database: clusterDir(opts.dataDir),
    oldDatabase: oldDir,
    migrated: result.applied,
    prepared: result.prepared,
    filesRestored: files.count,
    keptAside: files.keptAside,
    cache: { skipped: "no Redis configured" },
  });
}

export async function restore(opts: RestoreOptions): Promise<RestoreReport> {
  opts.log(`verifying ${opts.archive}`);
  await verifyChecksum(opts.archive);
  const work = mkdtempSync(join(tmpdir(), "flightctl-restore-"));
  try {
    await extractTar(opts.archive, work);
    const metaFile = join(work, "metadata.json");
    if (!existsSync(metaFile)) throw new ArchiveError(`${opts.archive}: no metadata.json; not a flightctl backup`);
    const metadata = parseMetadata(readFileSync(metaFile, "utf8"));
    checkSchema(metadata);
    const physical = metadata.database.kind === "physical";
    if (physical !== !opts.databaseUrl)
      throw new RestoreRefused(
        physical
          ? "this is a backup of the embedded default (npm start without DATABASE_URL): unset DATABASE_URL to restore it into <data dir>/postgres"
          : "this backup holds a pg_dump of an external database: set DATABASE_URL to the database to replace",
      );
    const dump = join(work, "db", physical ? "pgdata.tar" : "dump.pgc");
    if (!existsSync(dump)) throw new ArchiveError(`${opts.archive}: no db/${physical ? "pgdata.tar" : "dump.pgc"}`);
    opts.log(
      `backup of ${metadata.createdAt} by flightctl ${metadata.project.version}, schema ${metadata.schema.tag}, ${metadata.files.length} data file(s)`,
    );

    const tag = stamp(new Date()).toLowerCase();
    if (physical) return await restoreEmbedded(opts, metadata, work, tag);
    const databaseUrl = opts.databaseUrl!;
    const target = databaseOf(databaseUrl);
    const fresh = dbName(target, `_restore_${tag}`);
    const old = dbName(target, `_old_${tag}`);
    const admin = await connectTool(withDatabase(databaseUrl, "postgres"));
    let report: RestoreReport;
    try {
      const server = createServerStore(admin);
      const serverMajor = await server.serverMajor();
      await checkToolMajor("pg_restore", opts.pgBinDir, Math.max(serverMajor, metadata.database.pgDumpMajor));
      const targetExists = await server.databaseExists(target);
      if (targetExists) refuseRunning(target, await server.connections(target));

      // Everything up to the swap happens in the fresh database: a failure drops it and the old one is as it was.
      opts.log(`restoring into a fresh database ${fresh}`);
      await server.createDatabase(fresh);
      const freshUrl = withDatabase(databaseUrl, fresh);
      let files: ReturnType<typeof placeFiles> | undefined;
      let applied: string[];
      let prepared: PreparedCounts;
      try {
        const total = (await run(toolPath("pg_restore", opts.pgBinDir), ["--list", dump]))
          .split("\n")
          .filter((l) => /^\d+;/.test(l)).length;
        let done = 0;
        await withProgress(
          "pg_restore",
          () => `${done} of ${total} items`,
          opts.log,
          run(
            toolPath("pg_restore", opts.pgBinDir),
            ["--no-owner", "--no-privileges", "--exit-on-error", "--verbose", "--dbname", fresh, dump],
            {
              env: { ...pgEnv(freshUrl), PGAPPNAME: TOOL_APPLICATION },
              onLine: (l) => /^pg_restore: (creating|processing)/.test(l) && done++,
            },
          ),
        );
        ({ applied, prepared } = await prepareDatabase(freshUrl, opts.log));
        files = placeFiles(archivedFiles(work, opts, metadata), tag);

        // The swap: a service started meanwhile makes it fail (Postgres refuses to rename a database in use).
        if (targetExists) {
          refuseRunning(target, await server.connections(target));
          await server.swapDatabases(target, fresh, old);
        } else {
          await server.renameDatabase(fresh, target);
        }
      } catch (e) {
        files?.undo();
        await server.dropDatabase(fresh).catch(() => {});
        throw e;
      }
      opts.log(`database ${target} replaced`);
      if (targetExists && !opts.keepOldDb) await server.dropDatabase(old);
      report = {
        metadata,
        database: target,
        oldDatabase: targetExists && opts.keepOldDb ? old : undefined,
        migrated: applied,
        prepared,
        filesRestored: files.count,
        keptAside: files.keptAside,
        cache: { skipped: "no Redis configured" },
      };
    } finally {
      await admin.end();
    }
    return await purgeCache(opts, report);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
