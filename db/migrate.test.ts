import { assertNoOpenHandles } from "../test/helpers/leaks.js";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { migrate, MIGRATIONS_FOLDER, pendingMigrations } from "./migrate.js";
import { databaseUrl, dropTestDatabase } from "../test/helpers/db.js";

// A database created empty (not from the template): this file tests the migrations themselves.
const serverUrl = process.env.FC_TEST_DATABASE_URL;
const name = `fc_test_${Date.now().toString(36)}_mig${randomBytes(3).toString("hex")}`;
let url: string;
let pool: pg.Pool;

const allTags = (JSON.parse(readFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`, "utf8")) as { entries: { tag: string }[] }).entries
  .map((e) => e.tag)
  // graphile-worker's schema (the job queue) is part of a migrated database too.
  .concat("graphile-worker job queue");

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** Runs bin/flightctl-db-migrate.js; resolves with its exit code and output. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  const bin = fileURLToPath(new URL("../bin/flightctl-db-migrate.js", import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

before(async () => {
  assert.ok(serverUrl, "FC_TEST_DATABASE_URL is not set: run via `npm test`");
  await admin(`create database "${name}"`);
  url = databaseUrl(serverUrl, name);
  pool = new pg.Pool({ connectionString: url, max: 2 });
});

after(async () => {
  await pool?.end();
  if (serverUrl) await dropTestDatabase(serverUrl, name);
  await assertNoOpenHandles();
});

test("CLI without DATABASE_URL names the variable", async () => {
  const { code, out } = await cli([], { DATABASE_URL: "" });
  assert.equal(code, 2);
  assert.match(out, /DATABASE_URL is not set/);
});

test("on an empty database every migration is pending and --check exits 1", async () => {
  assert.deepEqual(await pendingMigrations(url), allTags);
  const { code, out } = await cli(["--check"], { DATABASE_URL: url });
  assert.equal(code, 1, out);
  for (const tag of allTags) assert.match(out, new RegExp(tag));
  // --check applied nothing.
  assert.deepEqual(await pendingMigrations(url), allTags);
});

test("migrate applies all, concurrently with a second migrator, then nothing is pending", async () => {
  const logged: string[] = [];
  // Two migrators racing: the advisory lock makes one apply everything and the other find nothing to do.
  const [a, b] = await Promise.all([migrate(url, { log: (l) => logged.push(l) }), migrate(url)]);
  assert.deepEqual([...a.applied, ...b.applied], allTags);
  assert.ok(a.applied.length === 0 || b.applied.length === 0);
  assert.deepEqual(await pendingMigrations(url), []);
  assert.deepEqual(await migrate(url), { applied: [] });
  const { code, out } = await cli(["--check"], { DATABASE_URL: url });
  assert.equal(code, 0, out);
  const applied = await cli([], { DATABASE_URL: url });
  assert.equal(applied.code, 0, applied.out);
  assert.match(applied.out, /up to date/);
});

test("the default organization exists", async () => {
  await migrate(url); // no-op after the test above; lets this test run alone (--test-name-pattern)
  const { rows } = await pool.query("select id, display_name from organizations");
  assert.deepEqual(rows, [{ id: "00000000-0000-0000-0000-000000000000", display_name: "Default" }]);
});

test("the primary key rejects a second device with the same org and name", async () => {
  await migrate(url); // no-op after the test above; lets this test run alone (--test-name-pattern)
  const org = "00000000-0000-0000-0000-000000000000";
  await pool.query("insert into devices (org_id, name) values ($1, 'dup')", [org]);
  await assert.rejects(pool.query("insert into devices (org_id, name) values ($1, 'dup')", [org]), {
    code: "23505",
    constraint: "devices_pkey",
  });
  // Same name in another org is fine.
  await pool.query("insert into devices (org_id, name) values (gen_random_uuid(), 'dup')");
});

test("resource_version increases across tables from one sequence", async () => {
  await migrate(url); // no-op after the test above; lets this test run alone (--test-name-pattern)
  const org = "00000000-0000-0000-0000-000000000000";
  const versions: bigint[] = [];
  for (const table of ["fleets", "devices", "repositories", "enrollment_requests"]) {
    const { rows } = await pool.query(`insert into ${table} (org_id, name) values ($1, 'rv') returning resource_version`, [org]);
    versions.push(BigInt(rows[0].resource_version));
  }
  const tv = await pool.query(
    "insert into template_versions (org_id, fleet_name, name) values ($1, 'rv', 'v1') returning resource_version",
    [org],
  );
  versions.push(BigInt(tv.rows[0].resource_version));
  for (let i = 1; i < versions.length; i++) assert.ok(versions[i] > versions[i - 1], `${versions}`);
});

test('names sort byte-wise (COLLATE "C") whatever the database locale', async () => {
  await migrate(url); // no-op after the test above; lets this test run alone (--test-name-pattern)
  const org = "00000000-0000-0000-0000-000000000000";
  for (const n of ["b", "B", "a", "_x", "A-1"]) {
    await pool.query("insert into fleets (org_id, name) values ($1, $2)", [org, `c-${n}`]);
  }
  const { rows } = await pool.query("select name from fleets where org_id = $1 and name like 'c-%' order by name", [org]);
  assert.deepEqual(
    rows.map((r) => r.name),
    ["c-A-1", "c-B", "c-_x", "c-a", "c-b"],
  );
});

test("field-selector expression indexes exist", async () => {
  await migrate(url); // no-op after the test above; lets this test run alone (--test-name-pattern)
  const { rows } = await pool.query(
    "select indexname from pg_indexes where schemaname = 'public' and indexdef like '%->>%' order by indexname",
  );
  assert.deepEqual(
    rows.map((r) => r.indexname),
    [
      "devices_alias_idx",
      "devices_apps_status_idx",
      "devices_lifecycle_status_idx",
      "devices_summary_status_idx",
      "devices_updated_status_idx",
      "fleets_os_image_idx",
      "repositories_type_idx",
    ],
  );
});
