// flightctl-restore on bad input: a truncated, altered or unverifiable archive, a backup from a newer schema, a dump
// pg_restore cannot load, a restore onto a running service, a pg_dump older than the server, and no Redis. Each is a
// clear refusal that leaves the database as it was (and no leftover database), or, for Redis, a restored database
// with a report saying exactly what was not done. Real pg_dump/pg_restore on the test's own database.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  openSync,
  writeSync,
  closeSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { createTestDatabase, queryOnce, type TestDatabase } from "./helpers/db.js";
import { freePort } from "./helpers/ports.js";
import { backup } from "../server/backup/backup.js";
import { restore, RestoreRefused } from "../server/backup/restore.js";
import { ArchiveError, checksumFile, checksumLine, createTar, extractTar, sha256File } from "../server/backup/archive.js";
import { checkToolMajor, parseToolMajor, PgToolError } from "../server/backup/pg-tools.js";
import { backupMain, restoreMain } from "../server/main/backup-restore.js";
import { journal } from "../db/migrate.js";

let db: TestDatabase;
let dir: string;
let dataDir: string;
let archive: string;

const q = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => queryOnce<T>(db.url, text, values);

const deviceNames = async () =>
  (await q<{ name: string }>("select name from devices where name <> 'gone' order by name")).map((r) => r.name);
const leftovers = async () =>
  (await q<{ datname: string }>("select datname from pg_database where datname like $1", [`${db.name}\\_%`])).map((r) => r.datname);
const addDevice = (name: string) =>
  q(`insert into devices (org_id, name, status) values ('00000000-0000-0000-0000-000000000000', $1, '{"summary":{"status":"Online"}}')`, [
    name,
  ]);

/** A copy of the archive with `edit` applied to its extracted contents, and a checksum that matches the copy. */
async function rebuilt(name: string, edit: (root: string) => void): Promise<string> {
  const root = mkdtempSync(join(dir, "x-"));
  await extractTar(archive, root);
  edit(root);
  const out = join(dir, name);
  await createTar(out, root);
  writeFileSync(checksumFile(out), checksumLine(await sha256File(out), out));
  return out;
}

/** A copy of the archive (and its checksum file) that `damage` then changes. */
function damaged(name: string, damage: (file: string) => void): string {
  const out = join(dir, name);
  copyFileSync(archive, out);
  copyFileSync(checksumFile(archive), checksumFile(out));
  damage(out);
  return out;
}

const opts = (file: string) => ({ archive: file, databaseUrl: db.url, dataDir, log: () => {} });

before(async () => {
  db = await createTestDatabase();
  dir = mkdtempSync(join(tmpdir(), "fc-restore-bad-"));
  dataDir = join(dir, "data");
  await addDevice("in-the-backup");
  // Not prepared: a decommissioned device and an approved request. Prepared: the pending request.
  await q(
    `insert into devices (org_id, name, status) values ('00000000-0000-0000-0000-000000000000', 'gone', '{"lifecycle":{"status":"Decommissioned"}}')`,
  );
  await q(
    `insert into enrollment_requests (org_id, name, status) values ('00000000-0000-0000-0000-000000000000', 'pending', '{}'),
       ('00000000-0000-0000-0000-000000000000', 'approved', '{"approval":{"approved":true}}')`,
  );
  ({ archive } = await backup({ databaseUrl: db.url, dataDir, outDir: dir, log: () => {} }));
  // After the backup: a successful restore removes it, a refused one leaves it.
  await addDevice("after-the-backup");
});

after(async () => {
  await db.drop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const unchanged = async () => {
  assert.deepEqual(await deviceNames(), ["after-the-backup", "in-the-backup"]);
  assert.deepEqual(await leftovers(), []);
};

test("a truncated archive is refused by its checksum; nothing changes", async () => {
  const file = damaged("truncated.tar", (f) => truncateSync(f, Math.floor(statSync(f).size / 2)));
  await assert.rejects(
    restore(opts(file)),
    (e: Error) => e instanceof ArchiveError && /checksum mismatch.*truncated or altered/.test(e.message),
  );
  await unchanged();
});

test("an altered archive is refused by its checksum; nothing changes", async () => {
  const file = damaged("altered.tar", (f) => {
    const fd = openSync(f, "r+");
    writeSync(fd, Buffer.from("X"), 0, 1, Math.floor(statSync(f).size / 2));
    closeSync(fd);
  });
  await assert.rejects(restore(opts(file)), (e: Error) => e instanceof ArchiveError && /checksum mismatch/.test(e.message));
  await unchanged();
});

test("an archive without its .sha256 is refused", async () => {
  const file = damaged("unverifiable.tar", (f) => rmSync(checksumFile(f)));
  await assert.rejects(restore(opts(file)), (e: Error) => e instanceof ArchiveError && /\.sha256: missing/.test(e.message));
  await unchanged();
});

test("a backup from a newer schema is refused, naming both schemas", async () => {
  const last = journal().at(-1)!;
  const file = await rebuilt("newer.tar", (root) => {
    const m = JSON.parse(readFileSync(join(root, "metadata.json"), "utf8"));
    m.schema = { tag: "0099_from_the_future", when: last.when + 1000 };
    m.project.version = "9.9.9";
    writeFileSync(join(root, "metadata.json"), JSON.stringify(m));
  });
  await assert.rejects(
    restore(opts(file)),
    (e: Error) =>
      e instanceof RestoreRefused &&
      e.message.includes("0099_from_the_future") &&
      e.message.includes(last.tag) &&
      /9\.9\.9 or later/.test(e.message),
  );
  await unchanged();
});

test("a dump pg_restore cannot load fails in the fresh database: the old one stays, the fresh one is dropped", async () => {
  const file = await rebuilt("bad-dump.tar", (root) => {
    const dump = join(root, "db", "dump.pgc");
    truncateSync(dump, Math.floor(statSync(dump).size * 0.6));
  });
  await assert.rejects(restore(opts(file)), /pg_restore failed/);
  await unchanged();
});

test("a restore onto a running service is refused, naming what is connected", async () => {
  const pool = new pg.Pool({ connectionString: db.url, application_name: "flightctl-worker", max: 2 });
  try {
    await Promise.all([pool.query("select 1"), pool.query("select pg_sleep(0.1)")]);
    await assert.rejects(
      restore(opts(archive)),
      (e: Error) =>
        e instanceof RestoreRefused &&
        /refusing to restore onto a running service/.test(e.message) &&
        /flightctl-worker from/.test(e.message),
    );
  } finally {
    await pool.end();
  }
  await unchanged();
});

test("pg_dump older than the server: a clear error naming the versions and what to install", async () => {
  assert.equal(parseToolMajor("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"), 15);
  assert.equal(parseToolMajor("pg_restore (PostgreSQL) 18.4"), 18);
  const major = parseToolMajor((await import("node:child_process")).execFileSync("pg_dump", ["--version"], { encoding: "utf8" }))!;
  assert.equal(await checkToolMajor("pg_dump", undefined, major), major);
  await assert.rejects(
    checkToolMajor("pg_dump", undefined, major + 3),
    (e: Error) =>
      e instanceof PgToolError &&
      e.message.includes(`pg_dump ${major} is older than the Postgres ${major + 3} server`) &&
      /FLIGHTCTL_PG_BIN_DIR/.test(e.message),
  );
  await assert.rejects(
    checkToolMajor("pg_dump", join(dir, "no-such-dir"), major),
    (e: Error) => e instanceof PgToolError && /not found/.test(e.message),
  );
});

test("no Redis: the database is restored and the report says exactly what was not done (exit 3)", async () => {
  const out: string[] = [];
  const io = { out: (s: string) => out.push(s), err: () => {} };
  const env = { DATABASE_URL: db.url, FLIGHTCTL_DATA_DIR: dataDir, FLIGHTCTL_REDIS_URL: `redis://127.0.0.1:${await freePort()}` };
  assert.equal(await restoreMain([archive], env, io), 3);
  assert.deepEqual(await deviceNames(), ["in-the-backup"]);
  assert.deepEqual(await leftovers(), []);
  const text = out.join("\n");
  assert.match(text, /restore PARTIALLY complete/);
  assert.match(text, /NOT DONE: dropping this project's cached content from Redis \(cannot reach Redis at 127\.0\.0\.1:\d+/);
  assert.match(text, /devices: 1 set AwaitingReconnect \(last seen cleared\); enrollment requests: 1 marked; SystemRestored event written/);
  const marked = await q<{ name: string; a: string | null }>(
    "select name, annotations->>'device-controller/awaitingReconnect' a from devices union all select name, annotations->>'device-controller/awaitingReconnect' from enrollment_requests order by name",
  );
  assert.deepEqual(marked, [
    { name: "approved", a: null },
    { name: "gone", a: null },
    { name: "in-the-backup", a: "true" },
    { name: "pending", a: "true" },
  ]);
});

test("the commands refuse bad usage (exit 2) and a data dir with no embedded cluster", async () => {
  const err: string[] = [];
  const io = { out: () => {}, err: (s: string) => err.push(s) };
  assert.equal(await restoreMain([], { DATABASE_URL: db.url }, io), 2);
  assert.equal(await restoreMain(["a.tar", "b.tar"], { DATABASE_URL: db.url }, io), 2);
  assert.equal(await backupMain(["--bogus"], { DATABASE_URL: db.url }, io), 2);
  assert.equal(await restoreMain(["--bogus", "a.tar"], { DATABASE_URL: db.url }, io), 2);
  assert.match(err.join("\n"), /give exactly one archive/);
  // No DATABASE_URL and no embedded cluster in the data dir: said so.
  await assert.rejects(
    backupMain([], { FLIGHTCTL_DATA_DIR: join(dir, "empty") }, io),
    /no embedded Postgres cluster \(DATABASE_URL is not set\)/,
  );
});
