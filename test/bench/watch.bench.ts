// Watch fan-out under a status storm: N devices, W watchers (a tenth watch every device, the rest a 1/(W·0.9) slice
// by label), then every device's status is rewritten in batches of 500 (as the agent endpoint's status store writes
// them). Prints how long until every watcher saw every change, the hub's queries, and the API process's CPU time.
//   DATABASE_URL=... node --import tsx test/bench/watch.bench.ts   (BENCH_DEVICES=10000 BENCH_WATCHERS=100)
import { readFileSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { mkdtempSync, chmodSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { migrate } from "../../db/migrate.js";
import { startApi } from "../../server/main/api.js";
import { createLogger } from "../../lib/logger.js";
import { startTestIssuer } from "../helpers/oidc.js";
import { benchDatabase } from "./server-process.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";

const N = Number(process.env.BENCH_DEVICES ?? 10_000);
const W = Number(process.env.BENCH_WATCHERS ?? 100);
const GROUPS = Math.max(1, Math.round(W * 0.9));

const dbh = await benchDatabase();
await migrate(dbh.url);
const issuer = await startTestIssuer();
const dataDir = mkdtempSync(join(tmpdir(), "fc-bench-watch-"));
chmodSync(dataDir, 0o755);
const api = await startApi({
  databaseUrl: dbh.url,
  dataDir,
  address: "127.0.0.1:0",
  agentAddress: "127.0.0.1:0",
  authProviders: [issuer.provider()],
  // A benchmark measures capacity: one user's load far beyond any rate limit is the point.
  rateLimits: { trustedProxies: [] },
  log: createLogger("bench", "error"),
});
const t = { api };
const admin = await issuer.token("root", { roles: ["flightctl-admin"] });
const pool = new pg.Pool({ connectionString: dbh.url });
await pool.query(
  `insert into devices (org_id, name, labels, status)
   select '00000000-0000-0000-0000-000000000000', 'dev-' || lpad(i::text, 6, '0'), jsonb_build_object('group', (i % ${GROUPS})::text),
          '{"summary": {"status": "Unknown"}}'::jsonb from generate_series(1, ${N}) i`,
);
const client = createClient(
  DeviceService,
  createGrpcTransport({ baseUrl: `https://localhost:${t.api.port}`, nodeOptions: { ca: readFileSync(t.api.caPath) } }),
);
const ac = new AbortController();
const watchers = Array.from({ length: W }, (_, i) => {
  const all = i >= GROUPS;
  // Devices 1..N are in group i % GROUPS.
  const inGroup = Math.floor(N / GROUPS) + (i >= 1 && i <= N % GROUPS ? 1 : 0);
  const w = { expect: all ? N : inGroup, seen: 0, synced: false, done: undefined as number | undefined };
  void (async () => {
    try {
      const stream = client.watchDevices(all ? {} : { labelSelector: `group=${i}` }, {
        headers: { authorization: `Bearer ${admin}` },
        signal: ac.signal,
      });
      for await (const m of stream) {
        if (m.type === "SYNCED") w.synced = true;
        if (m.type === "MODIFIED" && ++w.seen >= w.expect && w.done === undefined) w.done = Date.now();
      }
    } catch {
      /* aborted */
    }
  })();
  return w;
});
const t0 = Date.now();
while (!watchers.every((w) => w.synced)) await new Promise((r) => setTimeout(r, 100));
console.log(
  `${W} watchers synced (${watchers.reduce((n, w) => n + (w.expect === N ? N : 0), 0) + N} initial objects) in ${Date.now() - t0} ms`,
);

const cpu0 = process.cpuUsage();
const start = Date.now();
for (let from = 1; from <= N; from += 500) {
  await pool.query(
    `update devices set status = '{"summary": {"status": "Online"}}'::jsonb, resource_version = flightctl_next_version()
      where name between 'dev-' || lpad($1::text, 6, '0') and 'dev-' || lpad($2::text, 6, '0')`,
    [from, Math.min(N, from + 499)],
  );
}
const written = Date.now() - start;
while (!watchers.every((w) => w.done !== undefined) && Date.now() - start < 300_000) await new Promise((r) => setTimeout(r, 50));
const cpu = process.cpuUsage(cpu0);
const last = Math.max(...watchers.map((w) => w.done ?? Infinity));
const delivered = watchers.reduce((n, w) => n + w.seen, 0);
console.log(`storm: ${N} status writes in ${written} ms (batches of 500); every watcher complete after ${last - start} ms`);
console.log(
  `delivered ${delivered} MODIFIED messages; process CPU during storm: ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms (API + clients in one process)`,
);
ac.abort();
await pool.end();
await api.close();
await issuer.close();
await dbh.cleanup();
rmSync(dataDir, { recursive: true, force: true });
