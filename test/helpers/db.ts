// One fresh, migrated database per test file, cloned from the template test/run.ts prepared (fast: no migrations).
import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestDatabase {
  /** Connection URL of the new database (for code under test that builds its own pool, or child processes). */
  url: string;
  /** Name of the new database. */
  name: string;
  pool: pg.Pool;
  /** Closes `pool` and drops the database (forcibly disconnecting anyone still connected). Idempotent. */
  drop(): Promise<void>;
}

/** The same server URL with another database name (keeps credentials and query parameters). */
export function databaseUrl(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${encodeURIComponent(database)}`;
  return u.toString();
}

function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(
      `${name} is not set: run tests through \`npm test\` (test/run.ts), which starts or finds Postgres and prepares the ` +
        `template database; e.g. \`npm test -- server/foo.test.ts\``,
    );
  }
  return v;
}

async function withAdmin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * Drops test database `name`, forcibly disconnecting whoever is still connected, once the sessions of pools just
 * ended have closed: pool.end() resolves before its clients' connections are closed, and a FORCE drop overtaking one
 * terminates it, so that client (no longer its pool's) emits the error to nobody — an uncaught exception that failed a
 * test file once in CI.
 */
export async function dropTestDatabase(serverUrl: string, name: string): Promise<void> {
  await withAdmin(serverUrl, async (c) => {
    for (let i = 0; i < 50; i++) {
      const { rows } = await c.query<{ n: number }>("select count(*)::int n from pg_stat_activity where datname = $1", [name]);
      if (rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await c.query(`drop database if exists ${c.escapeIdentifier(name)} with (force)`);
  });
}

export async function createTestDatabase(opts: { poolMax?: number } = {}): Promise<TestDatabase> {
  const serverUrl = requireEnv("FC_TEST_DATABASE_URL");
  const template = requireEnv("FC_TEMPLATE_DB");
  // The base-36 time lets test/run.ts recognise (and drop) databases left behind by killed runs.
  const name = `fc_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  await withAdmin(serverUrl, (c) => c.query(`create database ${c.escapeIdentifier(name)} template ${c.escapeIdentifier(template)}`));
  const url = databaseUrl(serverUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: opts.poolMax ?? 5 });
  // An idle client losing its connection must fail the test that uses it, not crash the whole file.
  pool.on("error", () => {});
  let dropped: Promise<void> | undefined;
  return {
    url,
    name,
    pool,
    drop: () =>
      (dropped ??= (async () => {
        await pool.end();
        await dropTestDatabase(serverUrl, name);
      })()),
  };
}

/**
 * One query on a connection of its own, closed at once: for tests where nothing may stay connected (a restore
 * refuses, and Postgres cannot rename, a database somebody is connected to).
 */
export async function queryOnce<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  c.on("error", () => {});
  await c.connect();
  try {
    return (await c.query<T>(text, values)).rows;
  } finally {
    await c.end();
  }
}
