// The embedded default (npm start without DATABASE_URL, Postgres 18 from npm, no pg_dump for it): a hot physical
// backup of its running cluster, a refused restore while it runs, and a restore once it is stopped, which recovers the
// cluster beside the old one with the same embedded binaries, prepares its devices and swaps the directories.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startEmbeddedPostgres } from "../db/embedded.js";
import { queryOnce } from "./helpers/db.js";
import { migrate } from "../db/migrate.js";
import { backup } from "../server/backup/backup.js";
import { restore, RestoreRefused } from "../server/backup/restore.js";

const dir = mkdtempSync(join(tmpdir(), "fc-restore-embedded-"));
const dataDir = join(dir, "data");
// As root the embedded server runs as the `postgres` user, which must reach the cluster (npm start does the same).
mkdirSync(dataDir, { mode: 0o755 });
chmodSync(dir, 0o755);
chmodSync(dataDir, 0o755);
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const q = queryOnce;
const addDevice = (url: string, name: string) =>
  q(
    url,
    `insert into devices (org_id, name, status) values ('00000000-0000-0000-0000-000000000000', $1, '{"summary":{"status":"Online"}}')`,
    [name],
  );

test("the embedded cluster: hot physical backup, restore refused while it runs, restored once stopped", { timeout: 300_000 }, async () => {
  let server = await startEmbeddedPostgres({ dataDir: join(dataDir, "postgres") });
  try {
    await migrate(server.url);
    await addDevice(server.url, "in-the-backup");
    const { archive, metadata } = await backup({ dataDir, outDir: dir, log: () => {} });
    assert.equal(metadata.database.kind, "physical");
    assert.ok(metadata.database.serverMajor >= 15);
    await addDevice(server.url, "after-the-backup");
    await assert.rejects(
      restore({ archive, dataDir, log: () => {} }),
      (e: Error) => e instanceof RestoreRefused && /embedded Postgres of .* runs \(pid \d+\): stop npm start first/.test(e.message),
    );
    await server.stop();

    const report = await restore({ archive, dataDir, log: () => {} });
    assert.deepEqual(report.prepared, { devices: 1, enrollmentRequests: 0 });
    assert.equal(report.database, join(dataDir, "postgres"));
    // Only the cluster is left: the fresh one was swapped in, the old one dropped.
    assert.deepEqual(
      readdirSync(dataDir).filter((e) => e.startsWith("postgres")),
      ["postgres"],
    );
    assert.equal(existsSync(join(dataDir, "postgres", "backup_label")), false, "recovery finished");

    server = await startEmbeddedPostgres({ dataDir: join(dataDir, "postgres") });
    const rows = await q<{ name: string; s: string; a: string }>(
      server.url,
      "select name, status->'summary'->>'status' s, annotations->>'device-controller/awaitingReconnect' a from devices",
    );
    assert.deepEqual(rows, [{ name: "in-the-backup", s: "AwaitingReconnect", a: "true" }]);
    assert.equal((await q<{ n: number }>(server.url, "select count(*)::int n from events where reason = 'SystemRestored'"))[0].n, 1);
  } finally {
    await server.stop();
  }
});
