// The dependency sync end to end: the real API and worker, simulated agents, git smart-HTTP servers (git
// http-backend). Fleets read a file from git on a branch, on a tag, or from a second server; a standalone device reads
// the branch too. A new commit on the branch and one poll: one ls-remote per (repository, revision), a new template
// version for the branch's fleet, the devices converge on the new file; a poll without a new commit writes nothing; the
// tag's fleet stays until the tag moves; an unreachable server is reported once per failure streak and its fleet's
// devices keep what they run; the on-demand check re-renders the standalone device.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { drizzle } from "drizzle-orm/node-postgres";
import pino from "pino";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { createTestRepo, startGitHttpServer, type GitHttpServer, type TestRepo } from "./helpers/git-servers.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { startSimulator } from "../agent/simulator.js";
import { parseAgentConfig } from "../agent/config.js";
import { createGitClient, type GitClient } from "../server/repositories/git.js";
import { runGitOk } from "../server/repositories/git-exec.js";
import { createDependencySyncTasks } from "../server/repositories/dependency-sync.js";
import { enqueueDependencySync } from "../server/jobs/queues.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import type { Db } from "../server/platform/resource/resource-store.js";

const ORG = DEFAULT_ORG_ID;
/** Simulator indices per group: each group is a fleet's selector, except "solo" (no fleet: a standalone device). */
const GROUPS: Record<string, number[]> = { main: [0, 1, 2, 3, 4, 5], tag: [6, 7, 8], far: [9, 10], solo: [11] };
const COUNT = 12;
let t: TestApi;
let admin: string;
let root: string;
let agentsDir: string;
let sim: Awaited<ReturnType<typeof startSimulator>>;
let serverA: GitHttpServer;
let serverB: GitHttpServer | undefined;
let portB: number;
let cfg: TestRepo;
/** simulator index → device name */
const names: string[] = [];
/** What the sync's git client was asked. */
const counts = { resolve: 0 };
let sync: ReturnType<typeof createDependencySyncTasks>;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const fleets = () => userClient(t, FleetService);
const devices = () => userClient(t, DeviceService);

before(async () => {
  root = mkdtempSync(join(tmpdir(), "gitops-sync-"));
  agentsDir = join(root, "agents");
  cfg = await createTestRepo(join(root, "a"), "cfg", { motd: "main 1\n" });
  await cfg.tag("v1");
  await createTestRepo(join(root, "b"), "far", { motd: "far 1\n" });
  serverA = await startGitHttpServer({ root: join(root, "a"), auth: { username: "ann", password: "s3cret-pw" } });
  serverB = await startGitHttpServer({ root: join(root, "b") });
  portB = Number(new URL(serverB.url("far")).port);

  t = await startTestApi({ worker: true, heartbeatMs: 1000 });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  const installer = await t.issuer.token("ivy", { roles: ["flightctl-installer"], organizations: ["default"] });
  sim = await startSimulator({
    count: COUNT,
    config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
    baseDir: agentsDir,
    labels: { sync: "yes" },
    approve: { api: `https://localhost:${t.api.port}`, caPem: readFileSync(t.api.caPath, "utf8"), token: installer },
    log: pino({ level: "silent" }),
  });
  await sim.started();
  const list = await devices().listDevices({ options: { labelSelector: "sync=yes" } }, auth());
  assert.equal(list.items.length, COUNT);
  for (const d of list.items) names[Number(d.metadata!.labels["simulator-index"])] = d.metadata!.name!;
  for (const [group, indices] of Object.entries(GROUPS)) {
    for (const i of indices) {
      await devices().patchDevice(
        { name: names[i], patch: [{ op: "add", path: "/metadata/labels/group", value: fromJson(ValueSchema, group) }] },
        auth(),
      );
    }
  }

  for (const [name, spec] of [
    ["cfg", { type: "git", url: serverA.url("cfg"), httpConfig: { username: "ann", password: "s3cret-pw" } }],
    ["far", { type: "git", url: serverB.url("far") }],
  ] as const) {
    await userClient(t, RepositoryService).replaceRepository(
      { name, repository: fromJson(RepositorySchema, { apiVersion: "v1beta1", kind: "Repository", metadata: { name }, spec }) },
      auth(),
    );
  }
  // The poll under test runs here, with its own git client (counted); what it queues runs in the API's worker.
  const real = createGitClient({ cacheDir: join(root, "cache"), timeoutMs: 20_000 });
  const git: GitClient = {
    check: (r) => real.check(r),
    resolve: (r, rev) => (counts.resolve++, real.resolve(r, rev)),
    readPath: (r, c, p, l) => real.readPath(r, c, p, l),
  };
  sync = createDependencySyncTasks(drizzle(t.db.pool) as unknown as Db, { git });
});

after(async () => {
  await sim?.stop();
  await t?.close();
  await serverA?.close();
  await serverB?.close();
  rmSync(root, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const gitRef = (repository: string, targetRevision: string) => ({
  config: [{ name: "motd", gitRef: { repository, targetRevision, path: "/motd", mountPath: "/etc" } }],
});

async function putFleet(name: string, templateSpec: JsonObject) {
  const fleet = fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name },
    spec: { selector: { matchLabels: { group: name } }, template: { spec: templateSpec } },
  });
  await fleets().replaceFleet({ name, fleet }, auth());
}

const templateVersion = async (fleet: string) =>
  (await fleets().getFleet({ name: fleet }, auth())).metadata?.annotations["fleet-controller/templateVersion"];
const tvAnnotations = async (fleet: string, tv: string) =>
  (await t.db.pool.query(`select annotations from template_versions where fleet_name = $1 and name = $2`, [fleet, tv])).rows[0]
    ?.annotations as Record<string, string> | undefined;
const motd = (i: number) => {
  try {
    // Simulated devices keep their files in memory (agent/memory-fs.ts).
    return String(sim.hosts[sim.indexes.indexOf(i)].read("/etc/motd"));
  } catch {
    return undefined;
  }
};
const events = async (kind: string, name: string, reason: string) =>
  (
    await t.db.pool.query(
      `select message, details from events where involved_kind = $1 and involved_name = $2 and reason = $3 order by seq`,
      [kind, name, reason],
    )
  ).rows as {
    message: string;
    details: JsonObject;
  }[];

/** Every device of `group` runs its latest render (reported renderedVersion) and has `content` in /etc/motd. */
async function converged(group: string, content: string): Promise<void> {
  await waitFor(
    `${group} devices running ${JSON.stringify(content)}`,
    async () => {
      for (const i of GROUPS[group]) {
        const d = await devices().getDevice({ name: names[i] }, auth());
        const rendered = (await t.db.pool.query(`select rendered_version from device_renders where name = $1`, [names[i]])).rows[0]
          ?.rendered_version;
        if (rendered === undefined || d.status?.config?.renderedVersion !== String(rendered) || d.status?.updated?.status !== "UpToDate")
          return false;
        if (motd(i) !== content) throw new Error(`agent ${i} has ${JSON.stringify(motd(i))}`);
      }
      return true;
    },
    60_000,
  );
}

/** What a poll must leave alone: template versions, fleets, device specs and annotations, renders, the sync's events. */
async function snapshot() {
  const q = async (text: string) => (await t.db.pool.query(text)).rows;
  return {
    tvs: await q(`select fleet_name, name, annotations from template_versions order by fleet_name, name`),
    fleets: await q(`select name, resource_version, annotations from fleets order by name`),
    devices: await q(`select name, generation, spec, annotations from devices order by name`),
    renders: await q(`select name, rendered_version, rendered_at from device_renders order by name`),
    events: await q(
      `select count(*)::int n from events where reason in ('DependencyChangeDetected', 'DependencySyncProbeFailed', 'FleetRolloutStarted')`,
    ),
  };
}

test("fleets and a standalone device with a gitRef: their simulated devices run the file from git", async () => {
  await putFleet("main", gitRef("cfg", "main"));
  await putFleet("tag", gitRef("cfg", "v1"));
  await putFleet("far", gitRef("far", "main"));
  const solo = await devices().getDevice({ name: names[11] }, auth());
  await devices().replaceDevice(
    {
      name: names[11],
      device: {
        apiVersion: "v1beta1",
        kind: "Device",
        metadata: { name: names[11], labels: solo.metadata!.labels },
        spec: gitRef("cfg", "main") as never,
      },
    },
    auth(),
  );
  await converged("main", "main 1\n");
  await converged("tag", "main 1\n");
  await converged("far", "far 1\n");
  await converged("solo", "main 1\n");
  // The template version pins the commit it resolved; the standalone device records the one its render read.
  const head = (await runGitOk(["--git-dir", cfg.bareDir, "rev-parse", "main"])).toString().trim();
  const tv = await templateVersion("main");
  assert.deepEqual(JSON.parse((await tvAnnotations("main", tv!))!["fleet-controller/gitCommits"]), { "git:cfg/main": head });
  const recorded = (await devices().getDevice({ name: names[11] }, auth())).metadata!.annotations["device-controller/gitCommits"];
  assert.deepEqual(JSON.parse(recorded).commits, { "git:cfg/main": head });
});

test("a new commit on main: one poll, one ls-remote per revision, a new template version, the devices converge", async () => {
  const tv1 = await templateVersion("main");
  const tagTv = await templateVersion("tag");
  const c2 = await cfg.commit({ motd: "main 2\n" }, "v2");
  counts.resolve = 0;
  const r = await sync.sync();
  // cfg/main (a fleet and the standalone device), cfg/v1, far/main.
  assert.deepEqual(r, { probes: 3, changed: 2, failed: 0 });
  assert.equal(counts.resolve, 3);

  const fleet = await waitFor("a new template version", async () => {
    const f = await fleets().getFleet({ name: "main" }, auth());
    return f.metadata?.annotations["fleet-controller/templateVersion"] !== tv1 && f;
  });
  const tv2 = fleet.metadata!.annotations["fleet-controller/templateVersion"];
  assert.match(tv2, new RegExp(`^v${fleet.metadata!.generation}-[0-9a-f]{8}$`));
  assert.deepEqual(JSON.parse((await tvAnnotations("main", tv2))!["fleet-controller/gitCommits"]), { "git:cfg/main": c2 });
  for (const [kind, name] of [
    ["Fleet", "main"],
    ["Device", names[11]],
  ]) {
    const changed = await events(kind, name, "DependencyChangeDetected");
    assert.equal(changed.length, 1, `${kind} ${name}`);
    assert.deepEqual(changed[0].details, { detailType: "DependencyChangeDetected", resourceKey: "git:cfg/main", fingerprint: c2 });
    assert.match(changed[0].message, /git:cfg\/main/);
  }
  // Rolled out like any new template version.
  assert.ok((await events("Fleet", "main", "FleetRolloutStarted")).some((e) => e.details.templateVersion === tv2));
  await converged("main", "main 2\n");
  await converged("solo", "main 2\n");

  // The tag did not move: its fleet keeps its version and its devices their file.
  assert.equal(await templateVersion("tag"), tagTv);
  assert.equal((await events("Fleet", "tag", "DependencyChangeDetected")).length, 0);
  await converged("tag", "main 1\n");
  await converged("far", "far 1\n");
});

test("a poll without a new commit creates nothing and writes nothing", async () => {
  const beforePoll = await snapshot();
  assert.deepEqual(await sync.sync(), { probes: 3, changed: 0, failed: 0 });
  // Anything queued would have run by now.
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(await snapshot(), beforePoll);
});

test("a tag-pinned template moves only when the tag does", async () => {
  const tagTv = await templateVersion("tag");
  await cfg.commit({ motd: "main 3\n" }, "v3");
  // A commit on main: cfg/main changes (main's fleet, the standalone device), cfg/v1 does not.
  assert.deepEqual(await sync.sync(), { probes: 3, changed: 2, failed: 0 });
  await converged("main", "main 3\n");
  assert.equal(await templateVersion("tag"), tagTv);
  await converged("tag", "main 1\n");

  // The tag moves to main's tip.
  await runGitOk(["--git-dir", cfg.bareDir, "tag", "-f", "v1", "main"], {
    env: { GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" },
  });
  assert.deepEqual(await sync.sync(), { probes: 3, changed: 1, failed: 0 });
  await waitFor("the tag's new template version", async () => (await templateVersion("tag")) !== tagTv);
  await converged("tag", "main 3\n");
  assert.equal((await events("Fleet", "tag", "DependencyChangeDetected")).length, 1);
});

test("an unreachable repository: DependencySyncProbeFailed once per failure streak, its devices keep what they run", async () => {
  const farTv = await templateVersion("far");
  const renders = async () =>
    (
      await t.db.pool.query(`select name, rendered_version from device_renders where name = any($1) order by name`, [
        GROUPS.far.map((i) => names[i]),
      ])
    ).rows;
  const rendersBefore = await renders();
  await serverB!.close();
  serverB = undefined;
  for (let i = 0; i < 2; i++) assert.deepEqual(await sync.sync(), { probes: 3, changed: 0, failed: 1 });
  const failed = await events("Fleet", "far", "DependencySyncProbeFailed");
  assert.equal(failed.length, 1, "once, not every poll");
  assert.equal(failed[0].details.resourceKey, "git:far/main");
  assert.match(String(failed[0].details.error), /^cannot reach 127\.0\.0\.1:\d+: connection (refused|failed)$/);
  assert.match(failed[0].message, /^Fleet dependency git:far\/main could not be checked: cannot reach/);
  const fleet = await fleets().getFleet({ name: "far" }, auth());
  assert.equal(fleet.metadata?.annotations["fleet-controller/dependencyProbeFailed"], JSON.stringify(["git:far/main"]));
  assert.equal(fleet.metadata?.annotations["fleet-controller/templateVersion"], farTv);
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(await renders(), rendersBefore);
  await converged("far", "far 1\n");
  // Fleets on the reachable server are not disturbed.
  assert.equal((await events("Fleet", "main", "DependencySyncProbeFailed")).length, 0);

  // Back: the streak ends without an event; failing again starts a new one.
  serverB = await startGitHttpServer({ root: join(root, "b"), port: portB });
  assert.deepEqual(await sync.sync(), { probes: 3, changed: 0, failed: 0 });
  assert.equal(
    (await fleets().getFleet({ name: "far" }, auth())).metadata?.annotations["fleet-controller/dependencyProbeFailed"],
    undefined,
  );
  assert.equal((await events("Fleet", "far", "DependencySyncProbeFailed")).length, 1);
  await serverB.close();
  serverB = undefined;
  assert.deepEqual(await sync.sync(), { probes: 3, changed: 0, failed: 1 });
  assert.equal((await events("Fleet", "far", "DependencySyncProbeFailed")).length, 2);
  serverB = await startGitHttpServer({ root: join(root, "b"), port: portB });
});

test("checked on demand, a standalone device with a gitRef re-renders on a new commit", async () => {
  const mainTv = await templateVersion("main");
  await cfg.commit({ motd: "main 4\n" }, "v4");
  // Through the worker's dependency_sync task, for the standalone device only.
  await enqueueDependencySync(drizzle(t.db.pool) as unknown as Db, { orgId: ORG, device: names[11] });
  await converged("solo", "main 4\n");
  assert.equal((await events("Device", names[11], "DependencyChangeDetected")).length, 3);
  // The fleet on the same branch was not checked.
  assert.equal(await templateVersion("main"), mainTv);
  await converged("main", "main 3\n");
});
