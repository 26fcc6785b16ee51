// Backup and restore end to end with 100 simulated agents, the real API and worker, real pg_dump/pg_restore and a
// Redis of the test's own: a backup taken while the service runs; a fleet update rolls to fleet "a" (60 devices)
// after it; the restore (refused while the service runs, then done) leaves every device AwaitingReconnect; on their
// next report the 60 updated devices are ConflictPaused (ahead of the restored service) and keep what they run, the
// 40 others go Online; resuming fleet "a" by selector brings them onto the restored spec, and every device's status is
// whole afterwards.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type pg from "pg";
import pino from "pino";
import { Redis } from "ioredis";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { createTestDatabase, queryOnce, type TestDatabase } from "./helpers/db.js";
import { startTestIssuer, type TestIssuer } from "./helpers/oidc.js";
import { freePort } from "./helpers/ports.js";
import { startRedis } from "./helpers/redis.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";
import { startWorker } from "../server/main/worker.js";
import { createLogger } from "../lib/logger.js";
import { backup } from "../server/backup/backup.js";
import { restore, RestoreRefused } from "../server/backup/restore.js";
import { restoreReportLines } from "../server/main/backup-restore.js";

const A = 60;
const B = 40;
let db: TestDatabase;
let issuer: TestIssuer;
let dataDir: string;
let simDir: string;
let outDir: string;
let ports: { port: number; agentPort: number };
let t: TestApi;
let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
let redis: Awaited<ReturnType<typeof startRedis>>;
let admin: string;
const sims: Awaited<ReturnType<typeof startSimulator>>[] = [];
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const log = createLogger("test", "error");
const lines: string[] = [];

const q = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => queryOnce<T>(db.url, text, values);

const count = async (where: string, values: unknown[] = []) =>
  (
    await q<{ n: number }>(`select count(*)::int n from devices d left join device_renders r using (org_id, name) where ${where}`, values)
  )[0].n;

const fleetDoc = (name: string, text: string) =>
  fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name },
    spec: {
      selector: { matchLabels: { fleet: name } },
      template: { spec: { config: [{ name: "motd", inline: [{ path: "/etc/motd", content: `${text}\n` }] }] } as JsonObject },
    },
  });

async function startService() {
  t = await startTestApi({ reuse: { db, dataDir, issuer }, ...ports, heartbeatMs: 1000 });
  worker = await startWorker({ databaseUrl: db.url, log, concurrency: 4, rolloutTickSeconds: 1 });
}

async function stopService() {
  await worker?.close();
  worker = undefined;
  await t.api.close();
}

/** Devices of `fleet` online, up to date, running the render the service has for them. */
const settled = (fleet: string) =>
  count(
    `d.labels->>'fleet' = $1 and d.status->'summary'->>'status' = 'Online' and d.status->'updated'->>'status' = 'UpToDate'
       and d.status->'config'->>'renderedVersion' = r.rendered_version::text and r.spec::text like '%motd%'`,
    [fleet],
  );

before(async () => {
  db = await createTestDatabase();
  issuer = await startTestIssuer();
  dataDir = mkdtempSync(join(tmpdir(), "fc-restore-data-"));
  simDir = mkdtempSync(join(tmpdir(), "fc-restore-sim-"));
  outDir = mkdtempSync(join(tmpdir(), "fc-restore-out-"));
  ports = { port: await freePort(), agentPort: await freePort() };
  redis = await startRedis(await freePort());
  await startService();
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  const installer = await t.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
  const config = parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused"));
  const approve = { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer };
  for (const [fleet, n, offset] of [
    ["a", A, 0],
    ["b", B, A],
  ] as const) {
    sims.push(
      await startSimulator({
        count: n,
        indexOffset: offset,
        config,
        baseDir: simDir,
        labels: { fleet },
        approve,
        log: pino({ level: "silent" }),
      }),
    );
  }
  await Promise.all(sims.map((s) => s.started()));
  const fleets = userClient(t, FleetService);
  await fleets.replaceFleet({ name: "a", fleet: fleetDoc("a", "a before the backup") }, auth());
  await fleets.replaceFleet({ name: "b", fleet: fleetDoc("b", "b all along") }, auth());
  await waitFor(
    "100 devices on their fleet's first template",
    async () => (await settled("a")) === A && (await settled("b")) === B,
    150_000,
  );
});

after(async () => {
  for (const s of sims) await s.stop();
  await worker?.close();
  await t?.close();
  await redis?.stop();
  for (const d of [simDir, outDir]) rmSync(d, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("backup, a rollout after it, restore: updated devices pause, the others go online, resume brings them back", async () => {
  // The backup, while the service runs.
  const { archive, metadata } = await backup({ databaseUrl: db.url, dataDir, outDir, log: () => {} });
  assert.equal(metadata.files.filter((f) => f.startsWith("certs/")).length > 0, true, "the PKI is in the archive");
  const before = new Map(
    (await q<{ name: string; v: string }>("select name, rendered_version::text v from device_renders")).map((r) => [r.name, Number(r.v)]),
  );
  assert.equal(before.size, A + B);

  // The fleet update rolls to all of fleet "a".
  await userClient(t, FleetService).replaceFleet({ name: "a", fleet: fleetDoc("a", "a after the backup") }, auth());
  await waitFor(
    "fleet a on its second template",
    async () => (await count(`d.labels->>'fleet' = 'a' and r.spec::text like '%after the backup%'`)) === A && (await settled("a")) === A,
    150_000,
  );

  // Onto the running service: refused, naming the processes; nothing changed.
  await assert.rejects(
    restore({ archive, databaseUrl: db.url, dataDir, redisUrl: redis.url, log: () => {} }),
    (e: Error) => e instanceof RestoreRefused && /running service/.test(e.message) && /flightctl-api/.test(e.message),
  );
  assert.equal(await count(`d.labels->>'fleet' = 'a' and r.spec::text like '%after the backup%'`), A);

  // Cached content of the old database, and a key of somebody else's on the same Redis.
  const r = new Redis(redis.url);
  await r.set("flightctl:frozen:tv-1/http/x", "old content");
  await r.set("someone-else:key", "kept");

  await stopService();
  const report = await restore({ archive, databaseUrl: db.url, dataDir, redisUrl: redis.url, log: () => {} });
  const { lines: out, partial } = restoreReportLines(report);
  lines.push(...out);
  assert.deepEqual(partial, []);
  assert.deepEqual(report.prepared, { devices: A + B, enrollmentRequests: 0 });
  assert.deepEqual(report.cache, { dropped: 1 });
  assert.equal(await r.get("flightctl:frozen:tv-1/http/x"), null);
  assert.equal(await r.get("someone-else:key"), "kept");
  r.disconnect();

  // Every device awaits its agent; nobody was seen by the restored service; the restored renders are the backup's.
  assert.equal(
    await count(`d.status->'summary'->>'status' = 'AwaitingReconnect' and d.annotations->>'device-controller/awaitingReconnect' = 'true'`),
    A + B,
  );
  assert.equal((await q<{ n: number }>("select count(*)::int n from device_last_seen"))[0].n, 0);
  assert.equal((await q<{ n: number }>("select count(*)::int n from events where reason = 'SystemRestored'"))[0].n, 1);
  for (const row of await q<{ name: string; v: string }>("select name, rendered_version::text v from device_renders"))
    assert.equal(Number(row.v), before.get(row.name));

  // Next contact: fleet "a" is ahead of the restored service and pauses, keeping what it runs; fleet "b" goes on.
  await startService();
  await waitFor(
    "fleet a ConflictPaused and fleet b Online",
    async () =>
      (await count(`d.labels->>'fleet' = 'a' and d.status->'summary'->>'status' = 'ConflictPaused'`)) === A && (await settled("b")) === B,
    120_000,
  );
  const pausedEvents = await q<{ n: number }>(
    "select count(distinct involved_name)::int n from events where reason = 'DeviceConflictPaused'",
  );
  assert.equal(pausedEvents[0].n, A);
  // Paused devices got no render: they still report the version they ran before the restore.
  assert.equal(
    await count(
      `d.labels->>'fleet' = 'a' and (d.status->'config'->>'renderedVersion')::int > r.rendered_version and r.spec::text like '%before the backup%'`,
    ),
    A,
  );
  const listed = await userClient(t, DeviceService).listDevices(
    { options: { fieldSelector: "status.summary.status=ConflictPaused" } },
    auth(),
  );
  assert.equal(listed.items.length, A);

  // Resume by selector: fleet "a" takes the restored service's spec, above the version it ran.
  const resumed = await userClient(t, DeviceService).resumeDevices({ labelSelector: "fleet=a" }, auth());
  assert.equal(resumed.resumedDevices, A);
  await waitFor("every device online and up to date", async () => (await settled("a")) === A && (await settled("b")) === B, 120_000);
  assert.equal(await count(`d.labels->>'fleet' = 'a' and r.spec::text like '%before the backup%'`), A);
  assert.equal(await count(`d.annotations ? 'device-controller/conflictPaused'`), 0);
  // No status lost: what the agents report is all there again.
  assert.equal(
    await count(
      `d.status->'systemInfo' is not null and d.status->'lifecycle'->>'status' = 'Enrolled' and d.status->'applicationsSummary' is not null`,
    ),
    A + B,
  );
  await waitFor(
    "every device seen again",
    async () => (await q<{ n: number }>("select count(*)::int n from device_last_seen"))[0].n === A + B,
  );
  process.stderr.write(`${lines.join("\n")}\n`);
});
