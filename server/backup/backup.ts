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
import { ARCHIVE_FORMAT, checksumFile, checksumLine, createTar, sha256File, type BackupMetadata } from "./archive.js";
import { TOOL_APPLICATION } from "./backup-store.js";
import { connectTool, schemaOf, stamp } from "./backup-connect.js";
import { backupCluster } from "./embedded-cluster.js";
import { createServerStore } from "./backup-store.js";
import { checkToolMajor, databaseOf, pgEnv, run, sizeOf, toolPath, withProgress } from "./pg-tools.js";

export interface BackupOptions {
  /** Unset: the embedded default's cluster in <dataDir>/postgres (a physical backup, embedded-cluster.ts). */
  databaseUrl?: string;
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

/** Entries of the data dir that are not copied: the embedded cluster (backed up on its own), what restores set aside. */
const skipped = (entry: string) => entry === "postgres" || entry.startsWith("postgres.") || entry.includes(".pre-restore-");

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name: string; version: string };

function filesUnder(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
  );
}

/** pg_dump -Fc of `url` into `file`, after checking pg_dump can read the server. */
async function dumpDatabase(url: string, file: string, opts: BackupOptions) {
  const client = await connectTool(url);
  let serverMajor: number;
  let schema: { tag: string; when: number };
  try {
    serverMajor = await createServerStore(client).serverMajor();
    schema = await schemaOf(client);
  } finally {
    await client.end();
  }
  const pgDumpMajor = await checkToolMajor("pg_dump", opts.pgBinDir, serverMajor);
  opts.log(`dumping database ${databaseOf(url)} (Postgres ${serverMajor}, pg_dump ${pgDumpMajor})`);
  await withProgress(
    "pg_dump",
    () => sizeOf(file),
    opts.log,
    run(toolPath("pg_dump", opts.pgBinDir), ["--format=custom", "--no-owner", "--no-privileges", "--file", file], {
      env: { ...pgEnv(url), PGAPPNAME: TOOL_APPLICATION },
    }),
  );
  return { name: databaseOf(url), kind: "dump" as const, serverMajor, pgDumpMajor, schema };
}

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const createdAt = new Date();
  mkdirSync(opts.outDir, { recursive: true });
  const name = `flightctl-backup-${stamp(createdAt)}.tar`;
  const archive = join(opts.outDir, name);
  if (existsSync(archive)) throw new Error(`${archive} exists already`);
  // Staged next to the archive (same file system: the final rename is atomic); removed whatever happens.
  const stage = mkdtempSync(join(opts.outDir, ".flightctl-backup-"));
  const root = join(stage, "content");
  try {
    mkdirSync(join(root, "db"), { recursive: true });
    const database = opts.databaseUrl
      ? await dumpDatabase(opts.databaseUrl, join(root, "db", "dump.pgc"), opts)
      : {
          name: "flightctl (embedded)",
          kind: "physical" as const,
          pgDumpMajor: 0,
          ...(await backupCluster(opts.dataDir, join(root, "db"), opts.log)),
        };
    const { schema, ...databaseMeta } = database;
    const files: string[] = [];
    if (existsSync(opts.dataDir)) {
      for (const e of readdirSync(opts.dataDir)) {
        if (skipped(e)) continue;
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
      database: databaseMeta,
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
