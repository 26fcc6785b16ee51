// The test harness itself: template clones (test/helpers/db.ts). The leak guard has its own file (leaks.test.ts).
import { assertNoOpenHandles } from "../test/helpers/leaks.js";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "../test/helpers/db.js";
import { pendingMigrations } from "./migrate.js";

let db: TestDatabase;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db.drop();
  await assertNoOpenHandles();
});

test("a test database is a migrated clone of the template", async () => {
  assert.deepEqual(await pendingMigrations(db.url), []);
  const { rows } = await db.pool.query("select count(*)::int as n from organizations");
  assert.equal(rows[0].n, 1);
});

test("clones are isolated from each other and dropped by drop()", async () => {
  const other = await createTestDatabase();
  await other.pool.query("insert into fleets (org_id, name) values (gen_random_uuid(), 'only-here')");
  const mine = await db.pool.query("select count(*)::int as n from fleets");
  assert.equal(mine.rows[0].n, 0);
  // A connection still open elsewhere must not block the drop (WITH (FORCE)).
  const straggler = new pg.Client({ connectionString: other.url });
  straggler.on("error", () => {});
  await straggler.connect();
  await other.drop();
  await other.drop(); // idempotent
  await straggler.end().catch(() => {});
  const left = await db.pool.query("select 1 from pg_database where datname = $1", [other.name]);
  assert.equal(left.rowCount, 0);
});
