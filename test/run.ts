// `npm test`: check the system packages the selected tests need (test/preflight.ts), make sure a Postgres is there (DATABASE_URL, else embedded in .data/test-pg), build or reuse a migrated
// template database, then run every *.test.ts with node:test. Each test file clones the template
// (test/helpers/db.ts), so files run in parallel on isolated databases.
//
// Usage: npm test -- [files or dirs] [node --test flags, e.g. --test-name-pattern=...]
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from "../db/embedded.js";
import { migrate, MIGRATIONS_FOLDER } from "../db/migrate.js";
import { databaseUrl } from "./helpers/db.js";
import { preflightMessage } from "./preflight.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TEST_ROOTS = ["server", "db", "lib", "test", "agent", "cli"];
const EXCLUDED = new Set(["node_modules", path.join("test", "bench")]);
// Distinct from db/migrate.ts's key: template creation calls migrate() (which takes that one) while holding this.
const TEMPLATE_LOCK_KEY = 7_246_113_002;
// Test databases older than this on a shared server are leftovers of killed runs.
const STALE_TEST_DB_MS = 6 * 3600_000;

function log(msg: string) {
  process.stderr.write(`[test/run] ${msg}\n`);
}

function findTests(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const rel = path.relative(ROOT, full);
    if (EXCLUDED.has(entry.name) || EXCLUDED.has(rel)) continue;
    if (entry.isDirectory()) findTests(full, out);
    else if (entry.name.endsWith(".test.ts")) out.push(rel);
  }
  return out.sort();
}

/** Extra argv: paths (files or dirs) select tests; everything else goes to node as flags. */
function splitArgs(argv: string[]): { files: string[]; flags: string[] } {
  const files: string[] = [];
  const flags: string[] = [];
  for (const a of argv) {
    if (!a.startsWith("-") && existsSync(a)) {
      if (statSync(a).isDirectory()) files.push(...findTests(path.resolve(a)));
      else files.push(a);
    } else flags.push(a);
  }
  return { files, flags };
}

/** Short hash of everything in db/migrations: a schema change yields a new template name, so no stale reuse. */
function migrationsHash(): string {
  const h = createHash("sha256");
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else h.update(path.relative(MIGRATIONS_FOLDER, full)).update("\0").update(readFileSync(full)).update("\0");
    }
  };
  walk(MIGRATIONS_FOLDER);
  return h.digest("hex").slice(0, 12);
}

async function prepareTemplate(serverUrl: string, name: string, privateCluster: boolean): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    // Serialises concurrent `npm test` runs against one server: only one builds the template.
    await admin.query("select pg_advisory_lock($1)", [TEMPLATE_LOCK_KEY]);
    const dbs = await admin.query<{ datname: string; datistemplate: boolean }>(
      "select datname, datistemplate from pg_database where datname like 'fc\\_tmpl\\_%' or datname like 'fc\\_test\\_%'",
    );
    const q = (n: string) => admin.escapeIdentifier(n);
    for (const db of dbs.rows) {
      // On our own cluster nobody else can be using old databases; on a shared server keep other runs' templates
      // (they may be mid-run with another checkout) and drop only test databases killed runs left behind.
      const stamp = /^fc_test_([0-9a-z]+)_/.exec(db.datname)?.[1];
      const staleTestDb = stamp !== undefined && Date.now() - parseInt(stamp, 36) > STALE_TEST_DB_MS;
      const oldTemplate = db.datname.startsWith("fc_tmpl_") && db.datname !== name;
      if (staleTestDb || (privateCluster && (oldTemplate || db.datname.startsWith("fc_test_")))) {
        if (db.datistemplate) await admin.query(`alter database ${q(db.datname)} is_template false`);
        await admin.query(`drop database if exists ${q(db.datname)} with (force)`);
      }
    }
    const existing = dbs.rows.find((d) => d.datname === name);
    if (existing?.datistemplate) return;
    // Present but not marked template: a previous run died while building it.
    if (existing) await admin.query(`drop database ${q(name)} with (force)`);
    const t0 = Date.now();
    await admin.query(`create database ${q(name)}`);
    const { applied } = await migrate(databaseUrl(serverUrl, name));
    await admin.query(`alter database ${q(name)} is_template true`);
    log(`built template ${name} (${applied.length} migrations) in ${Date.now() - t0} ms`);
  } finally {
    await admin.end(); // ends the session, which releases the advisory lock
  }
}

/** A cluster in .data/test-pg; a parallel run that finds it busy uses a throwaway one instead. */
async function startTestCluster(): Promise<{ pgh: EmbeddedPostgresHandle; cleanup: () => void }> {
  const flags = ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"];
  mkdirSync(path.join(ROOT, ".data"), { recursive: true });
  const shared = path.join(ROOT, ".data", "test-pg");
  if (!clusterBusy(shared)) return { pgh: await startEmbeddedPostgres({ dataDir: shared, postgresFlags: flags }), cleanup: () => {} };
  const dir = mkdtempSync(path.join(ROOT, ".data", "test-pg-run-"));
  // mkdtemp makes it 0700; as root the server runs as the `postgres` user, which must reach the data dir inside.
  chmodSync(dir, 0o755);
  log(`${shared} is in use by another run; using ${dir}`);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    return { pgh: await startEmbeddedPostgres({ dataDir: path.join(dir, "data"), postgresFlags: flags }), cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

function clusterBusy(dataDir: string): boolean {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return false;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false; // stale pid file from a killed run; Postgres itself recovers from it
  }
}

async function main(): Promise<number> {
  const { files, flags } = splitArgs(process.argv.slice(2));
  const testFiles = files.length > 0 ? files : TEST_ROOTS.flatMap((d) => findTests(path.join(ROOT, d)));
  if (testFiles.length === 0) {
    log("no *.test.ts files found");
    return 1;
  }
  // Before any database: a missing system package stops the run now, in one line (test/preflight.ts).
  const missing = preflightMessage(testFiles, { root: ROOT });
  if (missing) {
    log(missing);
    return 1;
  }

  let embedded: { pgh: EmbeddedPostgresHandle; cleanup: () => void } | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const t0 = Date.now();
    embedded = await startTestCluster();
    serverUrl = embedded.pgh.serverUrl;
    log(`DATABASE_URL unset: embedded Postgres started in ${Date.now() - t0} ms`);
  }
  try {
    const template = `fc_tmpl_${migrationsHash()}`;
    await prepareTemplate(serverUrl, template, embedded !== undefined);
    // Not --test-force-exit: on Node 20 it ends a file's process before that process has written all its results to
    // the runner through a pipe, so tests vanish from the report (seen: 70 of 83 reported, exit code 0). Instead a
    // hung test fails after --test-timeout, leaked handles are reported by test/helpers/leaks.ts, and a run still
    // alive after FC_TEST_RUN_MINUTES (default 60) is stopped here with a clear message.
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--test", "--test-concurrency=2", "--test-timeout=600000", ...flags, ...testFiles],
      { cwd: ROOT, stdio: "inherit", env: { ...process.env, FC_TEST_DATABASE_URL: serverUrl, FC_TEMPLATE_DB: template } },
    );
    const limitMin = Number(process.env.FC_TEST_RUN_MINUTES ?? 60);
    const watchdog = setTimeout(() => {
      log(`tests still running after ${limitMin} min: a test or a handle it leaked keeps a file's process alive; stopping`);
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
    }, limitMin * 60_000);
    watchdog.unref();
    // Ctrl-C reaches the child through the terminal; a plain `kill` of this process is forwarded.
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on("SIGTERM", forward);
    process.on("SIGINT", forward);
    const code = await new Promise<number>((resolve) => child.on("exit", (c, sig) => resolve(c ?? (sig ? 1 : 0))));
    clearTimeout(watchdog);
    process.off("SIGTERM", forward);
    process.off("SIGINT", forward);
    return code;
  } finally {
    if (embedded) {
      await embedded.pgh.stop();
      embedded.cleanup();
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
