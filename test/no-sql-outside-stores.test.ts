// Stores own their tables: no file under server/ writes SQL except the stores (`*-store.ts`), the selector compilers
// (server/platform/selectors/**), the database module (server/platform/db.ts) and the job queue (server/jobs/**).
// "Writes SQL" means: imports `sql` from drizzle-orm, or calls `.execute(`/`.query(` with SQL (a sql`` template, a
// string, or a function named ...Sql(...)). Unit tests beside the code are not checked.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { filesUnder, ROOT } from "./helpers/source-files.js";

/** Where SQL belongs. */
const ALLOWED = [/-store\.ts$/, /^server\/platform\/selectors\//, /^server\/platform\/db\.ts$/, /^server\/jobs\//, /\.test\.ts$/];

/** `sql` imported as a value from drizzle-orm. */
const importsSql = (text: string) =>
  [...text.matchAll(/import\s*(type\s*)?\{([^}]*)\}\s*from\s*["']drizzle-orm["']/g)].some(
    ([, typeOnly, names]) => !typeOnly && names.split(",").some((n) => n.trim() === "sql"),
  );

/** A statement run on a database: `.execute(` or `.query(` with a sql`` template, a string, or a ...Sql(...) call. */
const runsSql = (text: string) => /\.(execute|query)\(\s*(sql\s*`|["'`]|\w*Sql\()/.test(text);

/** The files under server/ that write SQL outside the places it belongs. */
function offenders(): string[] {
  return filesUnder("server", ".ts").filter((file) => {
    if (ALLOWED.some((re) => re.test(file))) return false;
    const text = readFileSync(path.join(ROOT, file), "utf8");
    return importsSql(text) || runsSql(text);
  });
}

test("no SQL outside stores, selectors, platform/db.ts and server/jobs", () => {
  const found = offenders();
  assert.deepEqual(found, [], `SQL outside stores (move it into a named store method):\n${found.join("\n")}`);
});

test("the check recognizes SQL", () => {
  assert.equal(importsSql(`import { sql, type SQL } from "drizzle-orm";`), true);
  assert.equal(importsSql(`import type { SQL } from "drizzle-orm";`), false);
  assert.equal(importsSql(`import { eq } from "drizzle-orm";`), false);
  assert.equal(runsSql("await tx.execute(sql`select 1`)"), true);
  assert.equal(runsSql('await pool.query("select 1")'), true);
  assert.equal(runsSql("await tx.execute(insertEventsSql(orgId, events))"), true);
  assert.equal(runsSql("compileCached(value).execute(device)"), false);
});
