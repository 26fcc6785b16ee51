// The harness the fleet, ownership and application-action tests share: a test app per file, and a drainer that runs
// the device and fleet tasks on demand (renders, selection, rollouts), closed with the app and checked for leaks.
import { after, before } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { startTestApp, type TestApp } from "./app.js";
import { jobDrainer } from "./jobs.js";
import { assertNoOpenHandles } from "./leaks.js";
import { createDeviceTasks } from "../../server/devices/device-tasks.js";
import { createFleetTasks } from "../../server/fleets/fleet-tasks.js";
import type { Db } from "../../server/platform/resource/resource-store.js";

/** Registers the file's before/after hooks; `started` gets the app and its database once up. */
export function fleetTestApp(started: (t: TestApp, db: Db) => void) {
  let db: Db;
  let t: TestApp | undefined;
  before(async () => {
    t = await startTestApp();
    db = drizzle(t.db.pool) as unknown as Db;
    started(t, db);
  });
  const jobs = jobDrainer(
    () => (t as TestApp).db.url,
    () => ({ ...createDeviceTasks(db).tasks, ...createFleetTasks(db).tasks }),
  );
  after(async () => {
    await jobs.close();
    await t?.close();
    await assertNoOpenHandles();
  });
  return jobs;
}
