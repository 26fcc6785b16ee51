import { assertNoOpenHandles } from "../test/helpers/leaks.js";
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from "./embedded.js";

const dir = mkdtempSync(path.join(tmpdir(), "fc-embedded-test-"));
// mkdtemp makes it 0700; as root, Postgres runs as the `postgres` user, which must be able to reach the data dir.
chmodSync(dir, 0o755);
const dataDir = path.join(dir, "data");
let running: EmbeddedPostgresHandle | undefined;

after(async () => {
  await running?.stop();
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

test("starts, keeps data across a restart on the same data dir, and stops cleanly", { timeout: 60_000 }, async () => {
  running = await startEmbeddedPostgres({ dataDir });
  assert.match(running.url, /^postgres:\/\/.+@127\.0\.0\.1:\d+\/flightctl$/);
  await query(running.url, "create table kept (v text)");
  await query(running.url, "insert into kept values ('hello')");
  await running.stop();
  // Stopped means stopped: nothing listens on the old port any more.
  await assert.rejects(query(running.url, "select 1"));
  const firstUrl = running.url;
  running = undefined;

  running = await startEmbeddedPostgres({ dataDir });
  const { rows } = await query(running.url, "select v from kept");
  assert.deepEqual(rows, [{ v: "hello" }]);
  // A chosen port is honoured (reuse the first run's, now free).
  const port = Number(new URL(firstUrl).port);
  await running.stop();
  running = await startEmbeddedPostgres({ dataDir, port });
  assert.equal(new URL(running.url).port, String(port));
  await running.stop();
  running = undefined;
});

test("refuses a non-empty directory that is not a cluster", async () => {
  await assert.rejects(startEmbeddedPostgres({ dataDir: path.dirname(dataDir) }), /not a Postgres data directory/);
});
