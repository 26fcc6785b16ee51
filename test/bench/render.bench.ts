// npm run bench:render — the worker's side of a fleet rollout, without agents: N devices (default 10,000) in one
// fleet; a template change (with a per-device parameter) is validated into a template version, written into every
// device's spec and rendered, all through the real graphile-worker queue (runOnce, concurrency 8). Prints renders per
// second. Baseline, same run: one INSERT … SELECT of N rows of the same size into a scratch table (the database's
// floor for writing that much).
import { performance } from "node:perf_hooks";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { Logger, runOnce } from "graphile-worker";
import { migrate } from "../../db/migrate.js";
import { createDeviceTasks } from "../../server/devices/device-tasks.js";
import { createFleetTasks } from "../../server/fleets/fleet-tasks.js";
import { enqueueSelection, enqueueValidate } from "../../server/jobs/queues.js";
import type { Db } from "../../server/platform/resource/resource-store.js";
import { benchDatabase } from "./server-process.js";

const N = Number(process.env.BENCH_DEVICES ?? 10_000);
const ORG = "00000000-0000-0000-0000-000000000000";

async function main() {
  const dbh = await benchDatabase();
  try {
    await migrate(dbh.url);
    const pool = new pg.Pool({ connectionString: dbh.url, max: 12 });
    pool.on("error", () => {});
    pool.on("connect", (c) => c.on("error", () => {}));
    const db = drizzle(pool) as unknown as Db;
    const taskList = { ...createDeviceTasks(db).tasks, ...createFleetTasks(db).tasks };
    const drain = () => runOnce({ pgPool: pool, taskList, concurrency: 8, logger: new Logger(() => () => {}) });

    await pool.query(
      `insert into devices (org_id, name, labels, spec, status) select $1, 'dev-' || lpad(i::text, 6, '0'),
         jsonb_build_object('fleet', 'bench', 'site', 'site-' || (i % 50)), '{}'::jsonb,
         '{"summary":{"status":"Online"},"updated":{"status":"UpToDate"},"config":{"renderedVersion":"0"}}'::jsonb
       from generate_series(1, $2) i`,
      [ORG, N],
    );
    const template = (round: number) => ({
      selector: { matchLabels: { fleet: "bench" } },
      template: {
        spec: {
          os: { image: "quay.io/example/os:{{ .metadata.labels.site }}" },
          config: [
            {
              name: "motd",
              inline: [{ path: "/etc/motd", content: `round ${round}: I am {{ .metadata.name }} at {{ upper .metadata.labels.site }}\n` }],
            },
          ],
        },
      },
    });
    // Round 1 makes the fleet and its members (not timed); round 2 is the template change.
    await pool.query(`insert into fleets (org_id, name, spec, generation) values ($1, 'bench', $2::jsonb, 1)`, [
      ORG,
      JSON.stringify(template(1)),
    ]);
    await db.transaction(async (tx) => {
      await enqueueSelection(tx, [{ orgId: ORG, fleet: "bench" }]);
      await enqueueValidate(tx, ORG, "bench");
    });
    await drain();
    const t0 = performance.now();
    await pool.query(
      `update fleets set spec = $2::jsonb, generation = generation + 1, resource_version = nextval('resource_version_seq') where org_id = $1 and name = 'bench'`,
      [ORG, JSON.stringify(template(2))],
    );
    await db.transaction((tx) => enqueueValidate(tx, ORG, "bench"));
    await drain();
    const seconds = (performance.now() - t0) / 1000;
    const rendered = (
      await pool.query(`select count(*)::int n from device_renders where spec->'config'->0->'inline'->0->>'content' like 'round 2:%'`)
    ).rows[0].n as number;
    if (rendered !== N) throw new Error(`only ${rendered} of ${N} devices rendered`);

    // Baseline: the same volume of rows written in one statement.
    await pool.query(`create temporary table scratch (name text, spec jsonb)`);
    const b0 = performance.now();
    await pool.query(`insert into scratch select name, spec from device_renders`);
    const baseline = (performance.now() - b0) / 1000;
    await pool.end();
    console.log(
      `\nTemplate change → ${N.toLocaleString("en")} devices' specs written and rendered (worker tasks through graphile-worker, this 2-core machine)\n`,
    );
    console.log("| devices | time | renders/s | baseline: one INSERT … SELECT of the rendered rows | ratio |");
    console.log("|---|---|---|---|---|");
    console.log(
      `| ${N.toLocaleString("en")} | ${seconds.toFixed(2)} s | ${(N / seconds).toFixed(0)} | ${baseline.toFixed(2)} s | ${(seconds / baseline).toFixed(1)}× |`,
    );
  } finally {
    await dbh.cleanup();
  }
}

await main();
