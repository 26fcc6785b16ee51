// `npm run bench:restore`: flightctl-backup and flightctl-restore on a database of BENCH_DEVICES devices (100,000;
// each with a render and a last-seen mark) and BENCH_EVENTS events (1,000,000), rows generated in bulk with SQL on a
// migrated database of the bench's own. Same-run baseline: plain `pg_dump -Fc` of the same database and `pg_restore`
// of that dump into an empty database. The figures: seconds each, and the ratio ours / baseline. The database
// server is DATABASE_URL's (default the local one); the bench creates and drops only its own databases.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { migrate } from "../../db/migrate.js";
import { backup } from "../../server/backup/backup.js";
import { restore } from "../../server/backup/restore.js";
import { pgEnv, withDatabase } from "../../server/backup/pg-tools.js";

const SERVER = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const NAME = `fc_bench_restore_${Date.now().toString(36)}`;
const BASELINE = `${NAME}_plain`;
const url = withDatabase(SERVER, NAME);

async function onServer(db: string, text: string): Promise<void> {
  const c = new pg.Client({ connectionString: withDatabase(SERVER, db) });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

const secs = (ms: number) => (ms / 1000).toFixed(1);
async function timed<T>(what: string, fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  console.log(`${what}: ${secs(ms)} s`);
  return { ms, value };
}

const dir = mkdtempSync(join(tmpdir(), "fc-bench-restore-"));
const cleanup = async () => {
  for (const db of [NAME, BASELINE]) await onServer("postgres", `drop database if exists "${db}" with (force)`).catch(() => {});
  rmSync(dir, { recursive: true, force: true });
};
process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

try {
  await onServer("postgres", `create database "${NAME}"`);
  await migrate(url);
  await timed(`generate ${DEVICES} devices (render, last seen) and ${EVENTS} events`, async () => {
    const org = "00000000-0000-0000-0000-000000000000";
    await onServer(
      NAME,
      `insert into devices (org_id, name, labels, owner, status)
         select '${org}', 'dev-' || lpad(i::text, 6, '0'), jsonb_build_object('fleet', 'f' || (i % 10), 'site', 's' || (i % 100)), 'Fleet/f' || (i % 10),
                jsonb_build_object('summary', jsonb_build_object('status', 'Online', 'info', 'Device is online'),
                  'updated', jsonb_build_object('status', 'UpToDate'), 'config', jsonb_build_object('renderedVersion', '3'),
                  'lifecycle', jsonb_build_object('status', 'Enrolled'),
                  'systemInfo', jsonb_build_object('architecture', 'amd64', 'operatingSystem', 'linux', 'bootID', md5(i::text)),
                  'applications', jsonb_build_array(jsonb_build_object('name', 'app', 'status', 'Running', 'ready', '1/1')))
           from generate_series(1, ${DEVICES}) i;
       insert into device_renders (org_id, name, rendered_version, spec_hash, spec)
         select '${org}', 'dev-' || lpad(i::text, 6, '0'), 3, md5(i::text),
                jsonb_build_object('config', jsonb_build_array(jsonb_build_object('name', 'rendered-config',
                  'inline', jsonb_build_array(jsonb_build_object('path', '/etc/motd', 'content', 'hello from fleet f' || (i % 10))))))
           from generate_series(1, ${DEVICES}) i;
       insert into device_last_seen (org_id, name, last_seen) select '${org}', 'dev-' || lpad(i::text, 6, '0'), now() from generate_series(1, ${DEVICES}) i;
       insert into events (org_id, reason, type, involved_kind, involved_name, actor, message, source_component)
         select '${org}', (array['DeviceContentUpToDate','DeviceContentUpdating','DeviceConnected','DeviceDisconnected'])[1 + i % 4], 'Normal',
                'Device', 'dev-' || lpad((1 + i % ${DEVICES})::text, 6, '0'), 'service:flightctl-worker',
                'Device is running the latest rendered version ' || i, 'flightctl-worker'
           from generate_series(1, ${EVENTS}) i;`,
    );
    await onServer(NAME, "vacuum analyze");
  });
  const size = execFileSync("psql", ["-Atc", `select pg_size_pretty(pg_database_size('${NAME}'))`], {
    env: pgEnv(url),
    encoding: "utf8",
  }).trim();
  console.log(`database ${NAME}: ${size}`);

  // Baseline: plain pg_dump -Fc, and pg_restore of that dump into an empty database.
  const plain = join(dir, "plain.pgc");
  const dumpBase = await timed("baseline pg_dump -Fc", () =>
    execFileSync("pg_dump", ["--format=custom", "--file", plain], { env: pgEnv(url) }),
  );
  await onServer("postgres", `create database "${BASELINE}"`);
  const restoreBase = await timed("baseline pg_restore", () =>
    execFileSync("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "--dbname", BASELINE, plain], {
      env: pgEnv(withDatabase(SERVER, BASELINE)),
    }),
  );

  const dataDir = join(dir, "data");
  const ours = await timed("flightctl-backup", () => backup({ databaseUrl: url, dataDir, outDir: dir, log: (l) => console.log(`  ${l}`) }));
  const back = await timed("flightctl-restore", () =>
    restore({ archive: ours.value.archive, databaseUrl: url, dataDir, log: (l) => console.log(`  ${l}`) }),
  );
  if (back.value.prepared.devices !== DEVICES) throw new Error(`restore prepared ${back.value.prepared.devices} devices, not ${DEVICES}`);

  console.log("\n| step | flightctl | plain pg_dump / pg_restore | ratio |\n|---|---|---|---|");
  console.log(
    `| backup (s) | ${secs(ours.ms)} | ${secs(dumpBase.ms)} | ${(ours.ms / dumpBase.ms).toFixed(2)} |\n` +
      `| restore (s) | ${secs(back.ms)} | ${secs(restoreBase.ms)} | ${(back.ms / restoreBase.ms).toFixed(2)} |\n` +
      `| archive / dump size (MiB) | ${(statSync(ours.value.archive).size / 1_048_576).toFixed(1)} | ${(statSync(plain).size / 1_048_576).toFixed(1)} | |`,
  );
} finally {
  await cleanup();
}
