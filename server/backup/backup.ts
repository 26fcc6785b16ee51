// flightctl-backup: a consistent copy of everything a service needs to come back, while it keeps running. pg_dump
// reads one snapshot (a single repeatable-read transaction), so writes during the dump are simply not in it; the PKI
// and keys change only at first start.
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";
import pg from "pg";
import { journal } from "../../db/migrate.js";
import { ARCHIVE_FORMAT, checksumFile, checksumLine, createTar, sha256File, type BackupMetadata } from "./archive.js";
import { createServerStore, TOOL_APPLICATION } from "./backup-store.js";
import { checkToolMajor, databaseOf, pgEnv, run, sizeOf, toolPath, withProgress } from "./pg-tools.js";

export interface BackupOptions {
  databaseUrl: string;
  /** The service's data dir (FLIGHTCTL_DATA_DIR): certs/, pam-issuer/, admin-password. */
  dataDir: string;
  /** FLIGHTCTL_AUTH_CONFIG, copied into the archive when set. */
  authConfig?: string;
  /** Where the archive and its .sha256 are written. */
  outDir: string;
  /** Directory of pg_dump (unset: PATH). */
  pgBinDir?: string;
  log: (line: string) => void;
}

export interface BackupResult {
  archive: string;
  checksum: string;
  metadata: BackupMetadata;
}

/** Entries of the data dir that are not copied: the embedded cluster (the dump holds its data). */
const SKIPPED = new Set(["postgres"]);

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name: string; version: string };

/** YYYYMMDDTHHMMSSZ, as flightctl names its archives. */
export const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

/** The schema's newest applied migration, named by this code's journal when it knows it. */
export async function schemaOf(client: pg.ClientBase): Promise<{ tag: string; when: number }> {
  const when = await createServerStore(client).latestMigrationWhen();
  if (when === undefined) throw new Error("the database has no schema migrations applied: it is not a flightctl database");
  return { tag: journal().find((e) => e.when === when)?.tag ?? "(unknown to this version)", when };
}

export async function connectTool(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: TOOL_APPLICATION });
  client.on("error", () => {});
  await client.connect();
  return client;
}

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const createdAt = new Date();
  const client = await connectTool(opts.databaseUrl);
  let serverMajor: number;
  let schema: { tag: string; when: number };
  try {
    serverMajor = await createServerStore(client).serverMajor();
    schema = await schemaOf(client);
  } finally {
    await client.end();
  }
  const pgDumpMajor = await checkToolMajor("pg_dump", opts.pgBinDir, serverMajor);
  mkdirSync(opts.outDir, { recursive: true });
  const name = `flightctl-backup-${stamp(createdAt)}.tar`;
  const archive = join(opts.outDir, name);
  if (existsSync(archive)) throw new Error(`${archive} exists already`);
  // Staged next to the archive (same file system: the final rename is atomic); removed whatever happens.
  const stage = mkdtempSync(join(opts.outDir, ".flightctl-backup-"));
  const root = join(stage, "content");
  try {
    mkdirSync(join(root, "db"), { recursive: true });
    const dump = join(root, "db", "dump.pgc");
    opts.log(`dumping database ${databaseOf(opts.databaseUrl)} (Postgres ${serverMajor}, pg_dump ${pgDumpMajor})`);
    await withProgress(
      "pg_dump",
      () => sizeOf(dump),
      opts.log,
      run(toolPath("pg_dump", opts.pgBinDir), ["--format=custom", "--no-owner", "--no-privileges", "--file", dump], {
        env: { ...pgEnv(opts.databaseUrl), PGAPPNAME: TOOL_APPLICATION },
      }),
    );
    const files: string[] = [];
    if (existsSync(opts.dataDir)) {
      for (const e of readdirSync(opts.dataDir)) {
        if (SKIPPED.has(e)) continue;
        cpSync(join(opts.dataDir, e), join(root, "data", e), { recursive: true, preserveTimestamps: true });
      }
      if (existsSync(join(root, "data"))) files.push(...filesUnder(join(root, "data")));
    }
    let authConfig: string | undefined;
    if (opts.authConfig) {
      mkdirSync(join(root, "config"));
      cpSync(opts.authConfig, join(root, "config", "auth.yaml"));
      authConfig = opts.authConfig;
    }
    const metadata: BackupMetadata = {
      format: ARCHIVE_FORMAT,
      project: { name: pkg.name, version: pkg.version },
      schema,
      createdAt: createdAt.toISOString(),
      database: { name: databaseOf(opts.databaseUrl), serverMajor, pgDumpMajor },
      files: files.sort(),
      authConfig,
    };
    writeFileSync(join(root, "metadata.json"), `${JSON.stringify(metadata, null, 2)}\n`);
    const partial = join(stage, name);
    opts.log(`writing ${archive}`);
    await createTar(partial, root);
    chmodSync(partial, 0o600);
    const checksum = await sha256File(partial);
    writeFileSync(join(stage, "sum"), checksumLine(checksum, archive), { mode: 0o600 });
    renameSync(partial, archive);
    renameSync(join(stage, "sum"), checksumFile(archive));
    return { archive, checksum, metadata };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
