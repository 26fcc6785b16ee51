// npm run bench:gitops — GitOps in the worker, against a real git smart-HTTP server (git http-backend) on loopback:
//  1. ResourceSync: a repository with 200 fleet files; the first sync (resolve, read, parse and validate every file,
//     write 200 fleets in one transaction) and a poll that finds nothing new (one ref lookup, no writes);
//  2. a fleet template with a git config provider (gitRef) rendered for 1,000 devices through the real queue, counting
//     git calls (content is fetched once per template version, not per device).
// Baselines, same run: `git clone --depth 1` and `git ls-remote` of the same repository with the git CLI, and the same
// 1,000-device render with the same files inline (no git).
// BENCH_FLEETS (default 200), BENCH_DEVICES (default 1000), BENCH_POLLS (default 20).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { Logger, runOnce } from "graphile-worker";
import { migrate } from "../../db/migrate.js";
import { createDeviceTasks } from "../../server/devices/device-tasks.js";
import { createFleetTasks } from "../../server/fleets/fleet-tasks.js";
import { enqueueSelection, enqueueValidate } from "../../server/jobs/queues.js";
import { memoryContentCache } from "../../server/platform/content-cache.js";
import type { Db } from "../../server/platform/resource/resource-store.js";
import { createGitClient, type GitClient } from "../../server/repositories/git.js";
import { createGitConfigResolver } from "../../server/repositories/git-config.js";
import { runGitOk } from "../../server/repositories/git-exec.js";
import { createResourceSyncTasks } from "../../server/resourcesyncs/resourcesync-tasks.js";
import { createTestRepo, startGitHttpServer } from "../helpers/git-servers.js";
import { benchDatabase } from "./server-process.js";

const FLEETS = Number(process.env.BENCH_FLEETS ?? 200);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 1000);
const POLLS = Number(process.env.BENCH_POLLS ?? 20);
const ORG = "00000000-0000-0000-0000-000000000000";

/** A GitClient that counts its calls. */
function counting(git: GitClient) {
  const calls = { resolve: 0, readPath: 0 };
  const client: GitClient = {
    check: (repo) => git.check(repo),
    resolve: (repo, rev) => (calls.resolve++, git.resolve(repo, rev)),
    readPath: (repo, commit, path, limits) => (calls.readPath++, git.readPath(repo, commit, path, limits)),
  };
  return { calls, client };
}

const fleetFile = (i: number) => {
  const name = `fleet-${String(i).padStart(3, "0")}`;
  return `apiVersion: flightctl.io/v1beta1
kind: Fleet
metadata:
  name: ${name}
  labels:
    team: team-${i % 10}
spec:
  selector:
    matchLabels:
      fleet: ${name}
  template:
    metadata:
      labels:
        fleet: ${name}
    spec:
      os:
        image: quay.io/example/os:{{ getOrDefault .metadata.labels "version" "1" }}
      config:
        - name: motd
          inline:
            - path: /etc/motd
              content: "fleet ${name}: {{ .metadata.name }}\\n"
  rolloutPolicy:
    disruptionBudget:
      groupBy: ["site"]
      maxUnavailable: 2
`;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x: number) => `${x.toFixed(1)} ms`;

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

async function main() {
  const dbh = await benchDatabase();
  const root = mkdtempSync(join(tmpdir(), "bench-git-"));
  const cacheDir = mkdtempSync(join(tmpdir(), "bench-git-cache-"));
  let server: Awaited<ReturnType<typeof startGitHttpServer>> | undefined;
  try {
    await migrate(dbh.url);
    const pool = new pg.Pool({ connectionString: dbh.url, max: 12 });
    pool.on("error", () => {});
    pool.on("connect", (c) => c.on("error", () => {}));
    const db = drizzle(pool) as unknown as Db;

    const files: Record<string, string> = {
      "config/app.conf": "listen = 0.0.0.0:8080\nworkers = 4\n",
      "config/motd": "managed by git\n",
    };
    for (let i = 0; i < FLEETS; i++) files[`fleets/fleet-${String(i).padStart(3, "0")}.yaml`] = fleetFile(i);
    await createTestRepo(root, "bench", files);
    server = await startGitHttpServer({ root });
    const url = server.url("bench");
    const git = counting(createGitClient({ cacheDir }));

    await pool.query(`insert into repositories (org_id, name, spec) values ($1, 'bench', $2::jsonb)`, [
      ORG,
      JSON.stringify({ type: "git", url }),
    ]);
    await pool.query(`insert into resource_syncs (org_id, name, spec) values ($1, 'bench', $2::jsonb)`, [
      ORG,
      JSON.stringify({ repository: "bench", targetRevision: "main", path: "/fleets" }),
    ]);

    // 1. ResourceSync.
    const rs = createResourceSyncTasks(db, { git: git.client });
    const req0 = server.requests;
    const [first, firstMs] = await timed(() => rs.sync(ORG, "bench"));
    if (first !== "synced") throw new Error(`first sync: ${first}`);
    const firstRequests = server.requests - req0;
    const fleets = (await pool.query(`select count(*)::int n from fleets where owner = 'ResourceSync/bench'`)).rows[0].n as number;
    if (fleets !== FLEETS) throw new Error(`${fleets} of ${FLEETS} fleets written`);
    const seq = async () => (await pool.query("select last_value from resource_version_seq")).rows[0].last_value as string;
    const seqBefore = await seq();
    const pollTimes: number[] = [];
    const r0 = git.calls.resolve;
    const p0 = git.calls.readPath;
    const q0 = server.requests;
    for (let i = 0; i < POLLS; i++) {
      const [outcome, t] = await timed(() => rs.sync(ORG, "bench"));
      if (outcome !== "unchanged") throw new Error(`poll: ${outcome}`);
      pollTimes.push(t);
    }
    if ((await seq()) !== seqBefore) throw new Error("a no-change poll wrote something");
    const pollResolves = (git.calls.resolve - r0) / POLLS;
    const pollReads = (git.calls.readPath - p0) / POLLS;
    const pollRequests = (server.requests - q0) / POLLS;

    // Baselines: the git CLI on the same repository.
    const cloneTimes: number[] = [];
    const lsTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const dir = mkdtempSync(join(tmpdir(), "bench-clone-"));
      cloneTimes.push((await timed(() => runGitOk(["clone", "--quiet", "--depth", "1", url, join(dir, "c")])))[1]);
      rmSync(dir, { recursive: true, force: true });
      lsTimes.push((await timed(() => runGitOk(["ls-remote", url, "refs/heads/main"])))[1]);
    }

    // 2. A git-sourced fleet template rendered for DEVICES devices (and the same files inline, as the baseline).
    const cache = memoryContentCache();
    const taskList = {
      ...createDeviceTasks(db, { resolvers: { gitRef: createGitConfigResolver(db, cache, git.client) } }).tasks,
      ...createFleetTasks(db).tasks,
    };
    const drain = () => runOnce({ pgPool: pool, taskList, concurrency: 8, logger: new Logger(() => () => {}) });
    await drain(); // the fleet jobs the ResourceSync queued (its fleets select no device)
    const renderFleet = async (fleet: string, config: unknown[]) => {
      await pool.query(
        `insert into devices (org_id, name, labels, spec, status) select $1, $2 || '-' || lpad(i::text, 5, '0'),
           jsonb_build_object('fleet', $2::text, 'site', 'site-' || (i % 20)), '{}'::jsonb,
           '{"summary":{"status":"Online"},"updated":{"status":"UpToDate"},"config":{"renderedVersion":"0"}}'::jsonb
         from generate_series(1, $3) i`,
        [ORG, fleet, DEVICES],
      );
      const spec = { selector: { matchLabels: { fleet } }, template: { spec: { os: { image: "quay.io/example/os:1" }, config } } };
      await pool.query(`insert into fleets (org_id, name, spec, generation) values ($1, $2, $3::jsonb, 1)`, [
        ORG,
        fleet,
        JSON.stringify(spec),
      ]);
      const [, t] = await timed(async () => {
        await db.transaction(async (tx) => {
          await enqueueSelection(tx, [{ orgId: ORG, fleet }]);
          await enqueueValidate(tx, ORG, fleet);
        });
        await drain();
      });
      const rendered = (
        await pool.query(
          `select count(*)::int n from device_renders r join devices d using (org_id, name) where d.labels->>'fleet' = $1 and r.spec->'config' is not null`,
          [fleet],
        )
      ).rows[0].n as number;
      if (rendered !== DEVICES) throw new Error(`${fleet}: ${rendered} of ${DEVICES} devices rendered`);
      return t;
    };
    const inlineMs = await renderFleet("inline", [
      {
        name: "app",
        inline: Object.entries(files)
          .filter(([p]) => p.startsWith("config/"))
          .map(([p, content]) => ({ path: `/etc/app/${p.slice(7)}`, content })),
      },
    ]);
    const rr = git.calls.resolve;
    const rp = git.calls.readPath;
    const rq = server.requests;
    const gitMs = await renderFleet("gitcfg", [
      { name: "app", gitRef: { repository: "bench", targetRevision: "main", path: "/config", mountPath: "/etc/app" } },
    ]);
    const renderResolves = git.calls.resolve - rr;
    const renderReads = git.calls.readPath - rp;
    const renderRequests = server.requests - rq;
    await pool.end();

    const clone = median(cloneTimes);
    const ls = median(lsTimes);
    console.log(
      `\nGitOps (git http-backend on loopback, Postgres, this machine; ${FLEETS} fleet files, ${DEVICES.toLocaleString("en")} devices)\n`,
    );
    console.log("| measure | time | git calls | baseline (same run) | ratio |");
    console.log("|---|---|---|---|---|");
    console.log(
      `| ResourceSync first sync: ${FLEETS} files read, parsed, validated, ${FLEETS} fleets written in one transaction | ${ms(firstMs)} | ${firstRequests} HTTP requests | \`git clone --depth 1\`: ${ms(clone)} | ${(firstMs / clone).toFixed(1)}× |`,
    );
    console.log(
      `| ResourceSync poll, nothing new (median of ${POLLS}; no writes) | ${ms(median(pollTimes))} | ${pollResolves} resolve, ${pollReads} read, ${pollRequests} HTTP requests | \`git ls-remote\`: ${ms(ls)} | ${(median(pollTimes) / ls).toFixed(1)}× |`,
    );
    console.log(
      `| gitRef template rendered for ${DEVICES.toLocaleString("en")} devices (selection, template version, render) | ${ms(gitMs)} | ${renderResolves} resolve, ${renderReads} read, ${renderRequests} HTTP requests | same files inline: ${ms(inlineMs)} | ${(gitMs / inlineMs).toFixed(2)}× |`,
    );
  } finally {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(cacheDir, { recursive: true, force: true });
    await dbh.cleanup();
  }
}

await main();
