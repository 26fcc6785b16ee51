// Database faults are survived, not fatal. On the shared Postgres (this file's own database; only its backends are
// terminated): writers while the service's connections are terminated get Unavailable and never Internal, the process
// lives on and the next calls succeed; a read whose connection is lost is retried once, a write is not; a watch whose
// LISTEN connection is lost catches up with every change exactly once. On an embedded Postgres of this file's own
// (killed and restarted): /readyz 503 while it is down and /healthz 200, the supervisor restarts it, and a job
// interrupted by the outage runs again.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { sql } from "drizzle-orm";
import pg from "pg";
import { createLogger } from "../lib/logger.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { userClient, waitFor } from "./helpers/agents.js";
import { startTestIssuer, type TestIssuer } from "./helpers/oidc.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { createDb } from "../server/platform/db.js";
import { createPool } from "../server/platform/pg-pool.js";
import { toConnectError } from "../server/platform/errors.js";
import { startEmbeddedPostgres, type EmbeddedPostgresEvent, type EmbeddedPostgresHandle } from "../db/embedded.js";
import { migrate } from "../db/migrate.js";
import { startApi, type RunningApi } from "../server/main/api.js";
import { startJobRunner } from "../server/jobs/runner.js";
import type { TaskHandlers } from "../server/jobs/catalog.js";

const quiet = createLogger("db-faults", "silent");
const device = (name: string) => ({ apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name }, spec: {} });
const codeOf = (e: unknown) => ConnectError.from(e).code;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Terminates the backends of database `name` whose query matches `like` (all of them by default); returns how many. */
async function terminate(serverUrl: string, name: string, like = "%"): Promise<number> {
  const c = new pg.Client({ connectionString: serverUrl });
  c.on("error", () => {});
  await c.connect();
  try {
    const r = await c.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid() and query like $2",
      [name, like],
    );
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

describe("connections terminated (shared Postgres, this file's database)", () => {
  let t: TestApi;
  let auth: { headers: { authorization: string } };
  const serverUrl = () => process.env.FC_TEST_DATABASE_URL!;

  before(async () => {
    t = await startTestApi({ worker: true, watchBookmarkMs: 1000 });
    auth = { headers: { authorization: `Bearer ${await t.issuer.token("root", { roles: ["flightctl-admin"] })}` } };
  });
  after(async () => {
    await t.close();
  });

  test("writers during terminations: only Unavailable, the process lives on, the next calls succeed, no acked write lost", async () => {
    const devices = userClient(t, DeviceService);
    const acked: string[] = [];
    const codes = new Map<Code, number>();
    let stop = false;
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const name = `w${w}-${n}`;
        try {
          await devices.createDevice({ device: device(name) }, auth);
          acked.push(name);
        } catch (e) {
          codes.set(codeOf(e), (codes.get(codeOf(e)) ?? 0) + 1);
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    let terminated = 0;
    for (let i = 0; i < 4; i++) {
      await sleep(300);
      terminated += await terminate(serverUrl(), t.db.name);
    }
    await sleep(300);
    stop = true;
    await Promise.all(writers);
    assert.ok(terminated > 0, "backends were terminated");
    const failed = [...codes.entries()];
    assert.deepEqual(
      failed.filter(([code]) => code !== Code.Unavailable),
      [],
      `only Unavailable (got ${JSON.stringify(failed)})`,
    );
    // Recovered: every call succeeds again, at once.
    for (let i = 0; i < 5; i++) await devices.createDevice({ device: device(`after-${i}`) }, auth);
    const { rows } = await t.db.pool.query<{ name: string }>("select name from devices");
    const stored = new Set(rows.map((r) => r.name));
    assert.deepEqual(
      acked.filter((n) => !stored.has(n)),
      [],
      "every acknowledged write is stored",
    );
    assert.ok(acked.length > 0);
  });

  test("a read whose connection is lost runs again on another connection; a write does not", async () => {
    const pool = createPool({ connectionString: t.db.url, max: 4, log: quiet, name: "test" });
    const db = createDb(pool);
    try {
      // drizzle runs a statement when it is awaited: start it now.
      const read = (async () => db.execute(sql`select pg_sleep(0.8) is null as slept, 7 as seven`))();
      await sleep(300);
      assert.equal(await terminate(serverUrl(), t.db.name, "%pg_sleep(0.8)%"), 1);
      assert.equal((await read).rows[0].seven, 7, "the read was retried and answered");

      const write = db.execute(sql`select pg_sleep(0.8), pg_notify('db_faults_test', 'x')`);
      const failed = write.then(
        () => undefined,
        (e: unknown) => e,
      );
      await sleep(300);
      assert.equal(await terminate(serverUrl(), t.db.name, "%pg_notify('db_faults_test'%"), 1);
      const err = await failed;
      assert.ok(err, "the write was not retried");
      assert.equal(toConnectError(err).code, Code.Unavailable);
    } finally {
      await pool.end();
    }
  });

  test("a client checked out of a server pool whose connection dies does not end the process", async () => {
    // pg-pool listens for 'error' only on idle clients; an 'error' event nobody listens to is thrown.
    const pool = createPool({ connectionString: t.db.url, max: 1, log: quiet, name: "test" });
    try {
      const client = await pool.connect();
      const ended = new Promise((resolve) => client.once("end", resolve));
      (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      await ended;
      await assert.rejects(client.query("select 1"), (e) => toConnectError(e).code === Code.Unavailable);
      client.release(true);
    } finally {
      await pool.end();
    }
  });

  test("a transaction whose connection is lost at BEGIN gives its pool slot back", async () => {
    // One connection: a slot kept by a dead client would leave nothing for the next statement.
    const pool = createPool({ connectionString: t.db.url, max: 1, connectTimeoutMs: 1000, log: quiet, name: "test" });
    const db = createDb(pool);
    try {
      await db.execute(sql`select 1`);
      // The connection dies right after the pool hands it out, before drizzle's BEGIN.
      pool.once("acquire", (client) => (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy());
      const err = await db
        .transaction(async (tx) => tx.execute(sql`select 1`))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(err, "the transaction failed");
      assert.equal(toConnectError(err).code, Code.Unavailable);
      assert.equal((await db.execute(sql`select 2 as two`)).rows[0].two, 2, "the pool still has its connection");
    } finally {
      // A slot kept by a dead client would keep pool.end() waiting forever.
      await Promise.race([pool.end(), sleep(2000)]);
    }
  });

  test("a watch whose LISTEN connection is lost sees every change exactly once", async () => {
    const ac = new AbortController();
    const client = createClient(
      DeviceService,
      createGrpcTransport({ baseUrl: `https://localhost:${t.api.port}`, nodeOptions: { ca: readFileSync(t.api.caPath) } }),
    );
    const seen: string[] = [];
    let synced = false;
    const reading = (async () => {
      try {
        for await (const m of client.watchDevices({}, { ...auth, signal: ac.signal })) {
          if (m.type === "SYNCED") synced = true;
          else if (synced && m.type === "ADDED") seen.push(m.object?.metadata?.name ?? "");
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      }
    })();
    try {
      await waitFor("SYNCED", async () => synced);
      const devices = userClient(t, DeviceService);
      const created: string[] = [];
      // Writes while the LISTEN connection is down (it reconnects after a second) and after: each retried until it
      // is acknowledged, so each exists exactly once.
      for (let i = 0; i < 12; i++) {
        if (i === 0 || i === 6) await terminate(serverUrl(), t.db.name);
        const name = `watched-${i}`;
        await waitFor(`create ${name}`, async () => {
          try {
            await devices.createDevice({ device: device(name) }, auth);
            return true;
          } catch (e) {
            if (codeOf(e) === Code.AlreadyExists) return true; // an attempt committed before its connection died
            assert.equal(codeOf(e), Code.Unavailable);
            return false;
          }
        });
        created.push(name);
        await sleep(150);
      }
      await waitFor("every change", async () => created.every((n) => seen.includes(n)), 20_000);
      await sleep(1500); // room for duplicates to show up
      assert.deepEqual(
        created.map((n) => seen.filter((s) => s === n).length),
        created.map(() => 1),
        "each change delivered once",
      );
      // The LISTEN connection is back.
      const { rows } = await t.db.pool.query("select 1 from pg_stat_activity where datname = $1 and query ilike 'listen %'", [t.db.name]);
      assert.ok(rows.length > 0, "LISTEN connection re-established");
    } finally {
      ac.abort();
      await reading;
    }
  });
});

/** GET `path` on the API's user endpoint: status and how long it took. */
function get(api: RunningApi, path: string): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = https.get({ host: "127.0.0.1", port: api.port, path, ca: readFileSync(api.caPath), servername: "localhost" }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: Date.now() - started }));
    });
    req.on("error", reject);
  });
}

describe("Postgres killed (an embedded Postgres of this file's own)", () => {
  let dir: string;
  let pgh: EmbeddedPostgresHandle;
  let api: RunningApi;
  let issuer: TestIssuer;
  const events: EmbeddedPostgresEvent[] = [];
  /** The postmaster's pid, from its lock file. */
  const postmaster = () => Number(readFileSync(join(dir, "pg", "postmaster.pid"), "utf8").split("\n")[0]);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fc-dbfaults-"));
    // Postgres runs as an unprivileged user when we are root: it must be able to enter the directory.
    chmodSync(dir, 0o755);
    pgh = await startEmbeddedPostgres({
      dataDir: join(dir, "pg"),
      postgresFlags: ["-c", "fsync=off"],
      // Long enough to observe the outage (and for the API's AuthProvider list, reloaded every 5 s, to need it).
      restart: { delayMs: 7000, onEvent: (e) => events.push(e) },
    });
    await migrate(pgh.url);
    issuer = await startTestIssuer();
    api = await startApi({
      databaseUrl: pgh.url,
      dataDir: join(dir, "api"),
      address: "127.0.0.1:0",
      agentAddress: "127.0.0.1:0",
      authProviders: [issuer.provider()],
      webDir: "",
      dbConnectTimeoutMs: 2000,
      log: quiet,
    });
  });
  after(async () => {
    await api?.close();
    await issuer?.close();
    await pgh?.stop();
    rmSync(dir, { recursive: true, force: true });
    await assertNoOpenHandles();
  });

  test("kill -9: /readyz 503 at once while down, /healthz 200, calls Unavailable; restarted, and the service carries on", async () => {
    const auth = { headers: { authorization: `Bearer ${await issuer.token("root", { roles: ["flightctl-admin"] })}` } };
    const devices = createClient(
      DeviceService,
      createGrpcTransport({ baseUrl: `https://localhost:${api.port}`, nodeOptions: { ca: readFileSync(api.caPath) } }),
    );
    await devices.createDevice({ device: device("before") }, auth);
    assert.equal((await get(api, "/readyz")).status, 200);

    const killedAt = Date.now();
    process.kill(postmaster(), "SIGKILL");
    await waitFor("exited", async () => events.some((e) => e.event === "exited"), 5000);
    const ready = await get(api, "/readyz");
    assert.equal(ready.status, 503);
    assert.ok(ready.ms < 2500, `readyz answered in ${ready.ms} ms`);
    assert.equal((await get(api, "/healthz")).status, 200);
    await assert.rejects(devices.getDevice({ name: "before" }, auth), (e) => codeOf(e) === Code.Unavailable);
    await assert.rejects(devices.createDevice({ device: device("during") }, auth), (e) => codeOf(e) === Code.Unavailable);
    // A caller not seen before, once the AuthProvider list is due for a reload: authenticating needs the database too.
    await sleep(killedAt + 5500 - Date.now());
    const newcomer = { headers: { authorization: `Bearer ${await issuer.token("newcomer", { roles: ["flightctl-admin"] })}` } };
    await assert.rejects(devices.listDevices({}, newcomer), (e) => codeOf(e) === Code.Unavailable);

    await waitFor("restarted", async () => events.some((e) => e.event === "restarted"), 60_000);
    await waitFor("ready", async () => (await get(api, "/readyz")).status === 200, 10_000);
    // Within seconds of recovery every call succeeds.
    await waitFor("calls succeed", async () => (await devices.getDevice({ name: "before" }, auth)).metadata?.name === "before", 5000);
    await devices.createDevice({ device: device("after") }, auth);
  });

  test("a job interrupted by the outage runs again (the stopped job runner is replaced)", async () => {
    const pool = createPool({ connectionString: pgh.url, max: 4, connectTimeoutMs: 2000, log: quiet, name: "test-worker" });
    let runs = 0;
    let completed = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const probe = async () => {
      runs++;
      if (runs === 1) await gate; // the first run outlives Postgres
      completed++;
    };
    const runner = await startJobRunner({
      pool,
      log: quiet,
      tasks: { db_faults_probe: probe } as unknown as TaskHandlers,
      pollInterval: 200,
      restartDelayMs: 500,
    });
    const first = runner.current;
    try {
      await first.addJob("db_faults_probe", {});
      await waitFor("first run", async () => runs === 1, 10_000);
      const exits = events.length;
      process.kill(postmaster(), "SIGKILL");
      await waitFor("exited", async () => events.length > exits, 5000);
      release(); // finishes while the database is down: its outcome cannot be recorded
      await waitFor("ran again", async () => runs >= 2 && completed >= 2, 60_000);
      await waitFor(
        "job done",
        async () =>
          (
            await pool.query(
              "select count(*)::int as n from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = 'db_faults_probe'",
            )
          ).rows[0].n === 0,
        10_000,
      );
      assert.notEqual(runner.current, first, "a new runner took over");
    } finally {
      await runner.stop();
      await pool.end();
    }
  });
});
