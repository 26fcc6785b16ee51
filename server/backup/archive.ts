// The backup archive: one tar file (the dump is compressed by pg_dump -Fc already) holding metadata.json,
// db/dump.pgc, data/ (the data dir's PKI and keys) and config/ (the auth config file, if any), with a sha256sum-format
// `<archive>.sha256` beside it. Restore trusts nothing inside until the checksum matches.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { run } from "./pg-tools.js";

/** A file that is not a usable backup; the message says what is wrong. */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

export const ARCHIVE_FORMAT = 1;

/** metadata.json. */
export interface BackupMetadata {
  format: number;
  /** package.json name and version of the code that wrote the backup. */
  project: { name: string; version: string };
  /** The newest schema migration applied to the database (drizzle journal tag and `when`). */
  schema: { tag: string; when: number };
  /** ISO time the dump started. */
  createdAt: string;
  /** dump: db/dump.pgc (pg_dump -Fc); physical: db/pgdata.tar, db/pg_wal.tar, db/backup_label (the embedded default). */
  database: { name: string; kind: "dump" | "physical"; serverMajor: number; pgDumpMajor: number };
  /** What data/ holds (paths relative to the data dir) and whether config/ holds the auth config. */
  files: string[];
  authConfig?: string;
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export const checksumFile = (archive: string) => `${archive}.sha256`;

/** `<hex>  <name>\n`, as sha256sum writes it (so `sha256sum -c` checks it too). */
export const checksumLine = (hex: string, archive: string) => `${hex}  ${basename(archive)}\n`;

/** Refuses an archive whose checksum file is missing or does not match. */
export async function verifyChecksum(archive: string): Promise<void> {
  if (!existsSync(archive)) throw new ArchiveError(`${archive}: no such file`);
  const sumFile = checksumFile(archive);
  if (!existsSync(sumFile)) throw new ArchiveError(`${sumFile}: missing; refusing to restore an archive that cannot be verified`);
  const expected = /^([0-9a-f]{64})\s/.exec(readFileSync(sumFile, "utf8"))?.[1];
  if (!expected) throw new ArchiveError(`${sumFile}: not a sha256sum line`);
  const actual = await sha256File(archive);
  if (actual !== expected)
    throw new ArchiveError(
      `${archive}: checksum mismatch (sha256 ${actual}, ${basename(sumFile)} says ${expected}): the archive is truncated or altered; nothing was restored`,
    );
}

export const createTar = (archive: string, dir: string) => run("tar", ["-cf", archive, "-C", dir, "."]);

export async function extractTar(archive: string, dir: string): Promise<void> {
  try {
    await run("tar", ["-xf", archive, "-C", dir, "--no-same-owner"]);
  } catch (e) {
    throw new ArchiveError(`${archive}: cannot be extracted (${(e as Error).message})`);
  }
}

/** metadata.json, checked field by field. */
export function parseMetadata(text: string): BackupMetadata {
  let m: Partial<BackupMetadata>;
  try {
    m = JSON.parse(text) as Partial<BackupMetadata>;
  } catch (e) {
    throw new ArchiveError(`metadata.json: not JSON (${(e as Error).message})`);
  }
  const bad = (field: string) => new ArchiveError(`metadata.json: ${field} is missing or malformed`);
  if (m.format !== ARCHIVE_FORMAT) throw new ArchiveError(`metadata.json: format ${String(m.format)} is not ${ARCHIVE_FORMAT}`);
  if (typeof m.project?.version !== "string") throw bad("project.version");
  if (typeof m.schema?.tag !== "string" || typeof m.schema.when !== "number") throw bad("schema");
  if (typeof m.createdAt !== "string" || Number.isNaN(Date.parse(m.createdAt))) throw bad("createdAt");
  if (typeof m.database?.name !== "string" || typeof m.database.serverMajor !== "number" || !["dump", "physical"].includes(m.database.kind))
    throw bad("database");
  if (!Array.isArray(m.files)) throw bad("files");
  return m as BackupMetadata;
}
