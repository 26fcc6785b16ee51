// The agent gate's device existence check (server/devices/device-exists-store.ts): checks asked together go to
// Postgres as one statement, and each still gets its own device's answer (other organizations' and missing devices
// are not found).
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { deviceExistence, devicesExist } from "../server/devices/device-exists-store.js";
import { createDb, type Db, type Executor } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";

let t: TestApp;
let db: Db;
before(async () => {
  t = await startTestApp();
  db = createDb(t.db.pool);
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const ORG = DEFAULT_ORG_ID;
const OTHER_ORG = "00000000-0000-0000-0000-0000000000e1";

test("existence checks asked together: one statement, each answered for its own device", async () => {
  const names = Array.from({ length: 50 }, (_, i) => `exists-${String(i).padStart(2, "0")}`);
  await t.db.pool.query(`insert into devices (org_id, name, spec, status) select $1, n, '{}', '{}' from unnest($2::text[]) n`, [
    ORG,
    names,
  ]);
  let statements = 0;
  const counting = { execute: (q: Parameters<Db["execute"]>[0]) => (statements++, db.execute(q)) } as unknown as Executor;
  const exists = deviceExistence(counting);
  const asked = [
    ...names.map((name) => ({ orgId: ORG, name })),
    { orgId: ORG, name: "exists-missing" },
    // The same name in another organization is another device.
    { orgId: OTHER_ORG, name: names[0] },
    // Asked twice in one batch: both answered.
    { orgId: ORG, name: names[1] },
  ];
  const answers = await Promise.all(asked.map((k) => exists(k.orgId, k.name)));
  assert.deepEqual(answers, [...names.map(() => true), false, false, true]);
  assert.equal(statements, 1);
  // Deleted: the next check says so (no answer is kept).
  await t.db.pool.query(`delete from devices where org_id = $1 and name = $2`, [ORG, names[2]]);
  assert.equal(await exists(ORG, names[2]), false);
  assert.deepEqual(await devicesExist(db, [{ orgId: ORG, name: names[3] }]), [true]);
});
