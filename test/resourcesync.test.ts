// The ResourceSync controller against a real git smart-HTTP server (git http-backend, basic auth) and Postgres, through
// the real job queue: fleets created, replaced and deleted with the owner ResourceSync/<name>; ownership conflicts,
// bad files, a missing path, wrong credentials and an unreachable host each leave the fleets untouched and say why;
// a poll that finds nothing new writes nothing; the SyncResourceSync RPC (push webhook) syncs; deleting a
// ResourceSync releases its fleets.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { jobDrainer } from "./helpers/jobs.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { drizzle } from "drizzle-orm/node-postgres";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { ResourceSyncService } from "../gen/flightctl/v1beta1/resourcesync_service_pb.js";
import { ResourceSyncSchema, type ResourceSync } from "../gen/flightctl/v1beta1/resourcesync_pb.js";
import { createDeviceTasks } from "../server/devices/device-tasks.js";
import { createFleetTasks } from "../server/fleets/fleet-tasks.js";
import { decodeJson, parseDocuments } from "../server/platform/codec.js";
import type { Db } from "../server/platform/resource/resource-store.js";
import { createGitClient } from "../server/repositories/git.js";
import { TASK_RESOURCESYNC_POLL } from "../server/jobs/catalog.js";
import { createResourceSyncTasks } from "../server/resourcesyncs/resourcesync-tasks.js";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { createTestRepo, startGitHttpServer, type GitHttpServer, type TestRepo } from "./helpers/git-servers.js";

const AUTH = { username: "ann", password: "s3cret" };
let t: TestApp;
let db: Db;
let root: string;
let cacheDir: string;
let server: GitHttpServer;
let repo: TestRepo;
let rsTasks: ReturnType<typeof createResourceSyncTasks>;
const jobs = jobDrainer(
  () => t.db.url,
  () => ({ ...createDeviceTasks(db).tasks, ...createFleetTasks(db).tasks, ...rsTasks.tasks }),
);
const drain = () => jobs.drain();

const fleetDoc = (name: string, image = "quay.io/example/os:1", extra = "") =>
  `apiVersion: flightctl.io/v1beta1\nkind: Fleet\nmetadata:\n  name: ${name}\n  labels:\n    from: git\nspec:\n  selector:\n    matchLabels:\n      fleet: ${name}\n  template:\n    spec:\n      os:\n        image: ${image}\n${extra}`;

before(async () => {
  t = await startTestApp();
  db = drizzle(t.db.pool) as unknown as Db;
  root = mkdtempSync(join(tmpdir(), "rs-git-"));
  cacheDir = mkdtempSync(join(tmpdir(), "rs-cache-"));
  repo = await createTestRepo(root, "fleets", {
    "fleets/alpha.yaml": fleetDoc("alpha"),
    // Two fleets and a document of another kind in one file.
    "fleets/more.yml": `${fleetDoc("beta")}---\napiVersion: flightctl.io/v1beta1\nkind: Device\nmetadata:\n  name: not-synced\n---\n${fleetDoc("gamma")}`,
    "fleets/README.md": "not a resource\n",
    "fleets/nested/ignored.yaml": fleetDoc("nested"),
    "elsewhere/zeta.yaml": fleetDoc("zeta"),
  });
  server = await startGitHttpServer({ root, auth: AUTH });
  rsTasks = createResourceSyncTasks(db, { git: createGitClient({ cacheDir, timeoutMs: 20_000 }) });
});

after(async () => {
  await jobs.close();
  await server.close();
  await t.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(cacheDir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const fleets = () => createClient(FleetService, t.transport);
const devices = () => createClient(DeviceService, t.transport);
const syncs = () => createClient(ResourceSyncService, t.transport);
const repositories = () => createClient(RepositoryService, t.transport);

async function putRepository(name: string, url: string, auth: { username: string; password: string } | undefined = AUTH) {
  const repository = fromJson(RepositorySchema, {
    apiVersion: "v1beta1",
    kind: "Repository",
    metadata: { name },
    spec: { type: "git", url, ...(auth ? { httpConfig: auth } : {}) },
  });
  await repositories().replaceRepository({ name, repository });
}

async function putSync(name: string, spec: JsonObject) {
  const resourceSync = fromJson(ResourceSyncSchema, { apiVersion: "v1beta1", kind: "ResourceSync", metadata: { name }, spec });
  await syncs().replaceResourceSync({ name, resourceSync });
}

/** Queues the periodic task, as the crontab does every 2 minutes. */
const poll = () => t.db.pool.query("select graphile_worker.add_job($1, '{}'::json)", [TASK_RESOURCESYNC_POLL]);
const condition = (rs: ResourceSync, type: string) => rs.status?.conditions.find((c) => c.type === type);
const getSync = (name: string) => syncs().getResourceSync({ name });

/** name → [generation, resourceVersion, owner] of every fleet. */
async function snapshot() {
  const list = await fleets().listFleets({});
  return Object.fromEntries(
    list.items.map((f) => [f.metadata!.name!, [f.metadata!.generation, f.metadata!.resourceVersion, f.metadata!.owner ?? ""]]),
  );
}
const fleetNames = async () => Object.keys(await snapshot()).sort();

/** Writes nothing: no resource version taken, no event added. */
async function writeMarks() {
  const seq = (await t.db.pool.query("select last_value, is_called from resource_version_seq")).rows[0];
  const events = (await t.db.pool.query("select count(*)::int as n from events")).rows[0].n as number;
  return { seq: `${seq.last_value}/${seq.is_called}`, events };
}

async function expectCode(p: Promise<unknown>, code: Code) {
  await assert.rejects(p, (e) => ConnectError.from(e).code === code);
}

test("first sync: the directory's files become fleets owned by the ResourceSync, through the fleet rules", async () => {
  // A device labelled for a fleet that git is about to create joins it.
  await devices().createDevice({
    device: fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name: "rs-dev", labels: { fleet: "alpha" } } }),
  });
  await putRepository("git-fleets", server.url("fleets"));
  await putSync("main-sync", { repository: "git-fleets", targetRevision: "main", path: "/fleets" });
  await drain();
  assert.equal((await devices().getDevice({ name: "rs-dev" })).metadata?.owner, "Fleet/alpha");
  const rs = await getSync("main-sync");
  assert.equal(condition(rs, "Accessible")?.status, "True");
  assert.equal(condition(rs, "ResourceParsed")?.status, "True");
  assert.match(
    condition(rs, "ResourceParsed")!.message!,
    /3 fleet\(s\) found; ignored 1 document\(s\) of other kinds: fleets\/more\.yml document 1 \(Device\)/,
  );
  assert.equal(condition(rs, "Synced")?.status, "True", condition(rs, "Synced")?.message);
  assert.equal(condition(rs, "Synced")?.reason, "success");
  assert.equal(rs.status?.observedGeneration, 1);
  assert.match(rs.status?.observedCommit ?? "", /^[0-9a-f]{40}$/);

  assert.deepEqual(await fleetNames(), ["alpha", "beta", "gamma"], "README.md, the nested directory and the Device are not synced");
  const alpha = await fleets().getFleet({ name: "alpha" });
  assert.equal(alpha.metadata?.owner, "ResourceSync/main-sync");
  assert.deepEqual(alpha.metadata?.labels, { from: "git" });
  // The fleet kind's hooks ran: the template became a template version.
  assert.equal(alpha.metadata?.annotations["fleet-controller/templateVersion"], "v1");
  assert.equal(alpha.status?.conditions.find((c) => c.type === "Valid")?.status, "True");

  const reasons = (
    await t.db.pool.query(`select reason from events where involved_kind = 'ResourceSync' and involved_name = 'main-sync' order by seq`)
  ).rows.map((r) => r.reason);
  assert.deepEqual(reasons, [
    "ResourceCreated",
    "ResourceSyncCommitDetected",
    "ResourceSyncAccessible",
    "ResourceSyncParsed",
    "ResourceSyncSynced",
  ]);
  const synced = (await t.db.pool.query(`select details from events where reason = 'ResourceSyncSynced'`)).rows[0].details;
  assert.deepEqual(synced, { detailType: "ResourceSyncCompleted", commitHash: rs.status?.observedCommit, changeCount: 3, errorCount: 0 });

  // Users cannot change or delete what git owns.
  await expectCode(fleets().deleteFleet({ name: "alpha" }), Code.FailedPrecondition);
  // A direct edit of its spec is refused naming the owner and where to change it.
  const edited = fromJson(FleetSchema, {
    ...(toJson(FleetSchema, alpha) as JsonObject),
    spec: { ...(toJson(FleetSchema, alpha) as { spec: JsonObject }).spec, selector: { matchLabels: { fleet: "x" } } },
  });
  await assert.rejects(fleets().replaceFleet({ name: "alpha", fleet: edited }), (e) =>
    /is owned by ResourceSync\/main-sync: .*change it in the repository that ResourceSync\/main-sync syncs from/.test(
      ConnectError.from(e).rawMessage,
    ),
  );
});

test("a new commit: changed fleet replaced, new one created, removed one deleted, untouched one not rewritten", async () => {
  const before = await snapshot();
  await repo.commit({
    "fleets/alpha.yaml": fleetDoc("alpha", "quay.io/example/os:2"),
    "fleets/more.yml": fleetDoc("beta"),
    "fleets/delta.json": JSON.stringify(fromJsonYamlFleet("delta")),
  });
  await poll();
  await drain();
  const rs = await getSync("main-sync");
  assert.equal(condition(rs, "Synced")?.status, "True", condition(rs, "Synced")?.message);
  assert.match(condition(rs, "Synced")!.message!, /3 fleet\(s\) from commit [0-9a-f]{40}: 1 created, 1 updated, 1 deleted, 1 unchanged/);
  const after = await snapshot();
  assert.deepEqual(Object.keys(after).sort(), ["alpha", "beta", "delta"]);
  assert.equal(after.alpha[0], 2, "alpha's spec changed: generation 2");
  assert.deepEqual(after.beta, before.beta, "beta is unchanged: same generation and resource version");
  assert.equal(after.delta[2], "ResourceSync/main-sync");
  const alpha = await fleets().getFleet({ name: "alpha" });
  assert.equal(alpha.metadata?.annotations["fleet-controller/templateVersion"], "v2");
  const deleted = (await t.db.pool.query(`select actor from events where involved_name = 'gamma' and reason = 'ResourceDeleted'`)).rows;
  assert.deepEqual(deleted, [{ actor: "service:resourcesync" }]);
});

/** A fleet document as JSON (the JSON file of the previous test). */
function fromJsonYamlFleet(name: string): JsonObject {
  return parseDocuments(fleetDoc(name))[0];
}

test("a poll that finds nothing new writes nothing and costs one ref lookup", async () => {
  const marks = await writeMarks();
  const fleetsBefore = await snapshot();
  const requests = server.requests;
  assert.equal(await rsTasks.sync("00000000-0000-0000-0000-000000000000", "main-sync"), "unchanged");
  // The periodic task queues a sync of every ResourceSync; nothing has changed, so nothing is written.
  await poll();
  await drain();
  assert.deepEqual(await writeMarks(), marks);
  assert.deepEqual(await snapshot(), fleetsBefore);
  // Two ref lookups (the direct sync and the polled one), each at most a 401 challenge plus the authenticated request.
  assert.ok(server.requests - requests <= 4, `${server.requests - requests} git requests`);
});

test("ownership: a fleet created directly or owned by another ResourceSync is never taken over; nothing is written", async () => {
  await fleets().createFleet({ fleet: fromJson(FleetSchema, fromJsonYamlFleet("epsilon")) });
  await putSync("other-sync", { repository: "git-fleets", targetRevision: "main", path: "elsewhere/zeta.yaml" });
  await drain();
  assert.equal((await fleets().getFleet({ name: "zeta" })).metadata?.owner, "ResourceSync/other-sync");

  const before = await snapshot();
  await repo.commit({
    "fleets/alpha.yaml": fleetDoc("alpha", "quay.io/example/os:3"),
    "fleets/epsilon.yaml": fleetDoc("epsilon"),
    "fleets/zeta.yaml": fleetDoc("zeta"),
  });
  await poll();
  await drain();
  const rs = await getSync("main-sync");
  const synced = condition(rs, "Synced")!;
  assert.equal(synced.status, "False");
  assert.equal(synced.reason, "fail");
  assert.match(synced.message!, /Fleet "epsilon" was created directly \(no owner\); Fleet "zeta" is owned by ResourceSync\/other-sync/);
  assert.match(synced.message!, /nothing was applied/);
  assert.deepEqual(await snapshot(), before, "alpha's change in the same commit is not applied either");
  const failed = (
    await t.db.pool.query(`select type, message from events where involved_name = 'main-sync' and reason = 'ResourceSyncSyncFailed'`)
  ).rows;
  assert.equal(failed.length, 1);
  assert.equal(failed[0].type, "Warning");

  // Drop the file that clashes with the other ResourceSync: only the directly created fleet is left in the way.
  await repo.commit({ "fleets/zeta.yaml": null });
  await poll();
  await drain();
  const still = condition(await getSync("main-sync"), "Synced")!;
  assert.equal(still.status, "False");
  assert.doesNotMatch(still.message!, /zeta/);
  // A failed sync is retried at the same commit: once the user's fleet is gone, the next poll applies it all.
  await fleets().deleteFleet({ name: "epsilon" });
  await poll();
  await drain();
  const ok = await getSync("main-sync");
  assert.equal(condition(ok, "Synced")?.status, "True", condition(ok, "Synced")?.message);
  const after = await snapshot();
  assert.equal(after.alpha[0], 3);
  assert.equal(after.epsilon[2], "ResourceSync/main-sync");
  assert.equal(after.zeta[2], "ResourceSync/other-sync");
});

/** Commits, syncs through the webhook RPC, and returns the ResourceSync; asserts that no fleet changed. */
async function failingSync(change: () => Promise<unknown>): Promise<ResourceSync> {
  const before = await snapshot();
  await change();
  const returned = await syncs().syncResourceSync({ name: "main-sync" });
  assert.equal(returned.metadata?.name, "main-sync");
  await drain();
  assert.deepEqual(await snapshot(), before, "no partial sync: the fleets are as they were");
  return getSync("main-sync");
}

test("bad YAML, an invalid fleet, a missing path, wrong credentials, an unreachable host: a clear condition, fleets untouched", async () => {
  // Broken YAML in one file, with a valid change in another: neither is applied.
  let rs = await failingSync(() =>
    repo.commit({
      "fleets/alpha.yaml": fleetDoc("alpha", "quay.io/example/os:4"),
      "fleets/broken.yaml": "kind: Fleet\nmetadata: {name: [oops\n",
    }),
  );
  let c = condition(rs, "ResourceParsed")!;
  assert.equal(c.status, "False");
  assert.equal(c.reason, "fail");
  assert.match(c.message!, /^fleets\/broken\.yaml: document 0: .+ at line 3, column 1; nothing was applied$/);
  assert.equal(condition(rs, "Synced")?.reason, "NewHashDetected");
  assert.equal(condition(rs, "Accessible")?.status, "True");

  // A fleet that fails the API's validation: the message names file, document, fleet and field.
  rs = await failingSync(() =>
    repo.commit({
      "fleets/broken.yaml": `${fleetDoc("fine")}---\n${fleetDoc("wrong", "quay.io/example/os:1", "  rolloutPolicy:\n    disruptionBudget:\n      maxUnavailable: 1\n    successThreshold: lots\n")}`,
    }),
  );
  c = condition(rs, "ResourceParsed")!;
  assert.equal(c.status, "False");
  assert.match(
    c.message!,
    /^fleets\/broken\.yaml document 1 \(Fleet "wrong"\): spec\.rolloutPolicy\.successThreshold: must be a whole percentage .*"lots"; nothing was applied$/,
  );
  // An unknown field is refused the same way.
  rs = await failingSync(() => repo.commit({ "fleets/broken.yaml": fleetDoc("wrong", "quay.io/example/os:1", "  rolloutPolicyy: {}\n") }));
  assert.match(
    condition(rs, "ResourceParsed")!.message!,
    /fleets\/broken\.yaml document 0 \(Fleet "wrong"\): spec\.rolloutPolicyy: unknown field/,
  );
  await repo.commit({ "fleets/broken.yaml": null, "fleets/alpha.yaml": fleetDoc("alpha", "quay.io/example/os:3") });

  // A path that is not in the repository.
  rs = await failingSync(() => putSync("main-sync", { repository: "git-fleets", targetRevision: "main", path: "/nope" }));
  c = condition(rs, "Accessible")!;
  assert.equal(c.status, "False");
  assert.equal(c.reason, "path not found in repository");
  assert.match(c.message!, /path "\/nope" not found in repository "git-fleets" at main/);
  rs = await failingSync(() => putSync("main-sync", { repository: "git-fleets", targetRevision: "no-such-branch", path: "/fleets" }));
  assert.equal(condition(rs, "Accessible")?.reason, "failed to clone repository");
  assert.match(condition(rs, "Accessible")!.message!, /no-such-branch/);
  await putSync("main-sync", { repository: "git-fleets", targetRevision: "main", path: "/fleets" });
  await drain();
  assert.equal(condition(await getSync("main-sync"), "Synced")?.status, "True");

  // Wrong credentials.
  rs = await failingSync(() => putRepository("git-fleets", server.url("fleets"), { username: "ann", password: "wrong" }));
  c = condition(rs, "Accessible")!;
  assert.equal(c.status, "False");
  assert.equal(c.reason, "failed to clone repository");
  assert.match(c.message!, /^Repository "git-fleets": authentication failed for http:\/\/127\.0\.0\.1:\d+\/fleets\.git/);
  const inaccessible = (
    await t.db.pool.query(`select type from events where involved_name = 'main-sync' and reason = 'ResourceSyncInaccessible'`)
  ).rows;
  assert.ok(inaccessible.length >= 1 && inaccessible.every((e) => e.type === "Warning"));

  // An unreachable host (nothing listens on port 1).
  rs = await failingSync(() => putRepository("git-fleets", "http://127.0.0.1:1/fleets.git"));
  c = condition(rs, "Accessible")!;
  assert.equal(c.status, "False");
  assert.match(c.message!, /127\.0\.0\.1:1/);

  // A repository that is gone, or not git.
  rs = await failingSync(() => putSync("main-sync", { repository: "missing-repo", targetRevision: "main", path: "/fleets" }));
  assert.equal(condition(rs, "Accessible")?.reason, "repository resource not found");
  assert.match(condition(rs, "Accessible")!.message!, /Repository "missing-repo" does not exist/);

  // Catalog syncs are not implemented: said so, nothing read.
  await putSync("catalog-sync", { type: "catalog", repository: "git-fleets", targetRevision: "main", path: "/fleets" });
  await drain();
  assert.match(condition(await getSync("catalog-sync"), "ResourceParsed")!.message!, /spec\.type "catalog" is not supported yet/);
  await syncs().deleteResourceSync({ name: "catalog-sync" });

  // Everything restored: the same commit syncs again (a failed sync is retried even though the commit is known).
  await putRepository("git-fleets", server.url("fleets"));
  await putSync("main-sync", { repository: "git-fleets", targetRevision: "main", path: "/fleets" });
  await drain();
  rs = await getSync("main-sync");
  assert.equal(condition(rs, "Accessible")?.status, "True");
  assert.equal(condition(rs, "ResourceParsed")?.status, "True");
  assert.equal(condition(rs, "Synced")?.status, "True", condition(rs, "Synced")?.message);
});

test("SyncResourceSync: syncs a pushed commit at once; NotFound for an unknown name", async () => {
  await repo.commit({ "fleets/eta.yaml": fleetDoc("eta") });
  const rs = await syncs().syncResourceSync({ name: "main-sync" });
  assert.equal(rs.metadata?.name, "main-sync");
  await drain();
  assert.equal((await fleets().getFleet({ name: "eta" })).metadata?.owner, "ResourceSync/main-sync");
  await expectCode(syncs().syncResourceSync({ name: "absent" }), Code.NotFound);
});

test("flightctl's example ResourceSync applies and reports its unreachable repository without crashing", async () => {
  const dir = "/work/shared/compat/flightctl-examples";
  const repository = decodeJson(RepositorySchema, parseDocuments(readFileSync(join(dir, "repository-flightctl.yaml"), "utf8"))[0]);
  const resourceSync = decodeJson(ResourceSyncSchema, parseDocuments(readFileSync(join(dir, "resourcesync.yaml"), "utf8"))[0]);
  await repositories().replaceRepository({ name: repository.metadata!.name!, repository });
  await syncs().replaceResourceSync({ name: resourceSync.metadata!.name!, resourceSync });
  await drain();
  const rs = await getSync(resourceSync.metadata!.name!);
  const c = condition(rs, "Accessible")!;
  assert.equal(c.status, "False");
  assert.equal(c.reason, "failed to clone repository");
  assert.match(c.message!, /^Repository "flightctl": .*github\.com/);
  assert.equal(rs.status?.observedCommit, undefined);
});

test("deleting a ResourceSync keeps its fleets and releases them to users", async () => {
  const owned = Object.entries(await snapshot())
    .filter(([, v]) => v[2] === "ResourceSync/main-sync")
    .map(([k]) => k);
  assert.ok(owned.length >= 3);
  await syncs().deleteResourceSync({ name: "main-sync" });
  await drain();
  const after = await snapshot();
  for (const name of owned) assert.equal(after[name][2], "", `${name} is released`);
  const ev = (
    await t.db.pool.query(
      `select actor, details from events where involved_name = $1 and reason = 'ResourceUpdated' order by seq desc limit 1`,
      [owned[0]],
    )
  ).rows[0];
  assert.equal(ev.actor, "user:admin");
  assert.deepEqual(ev.details, { detailType: "ResourceUpdated", updatedFields: ["owner"], previousOwner: "ResourceSync/main-sync" });
  await fleets().deleteFleet({ name: owned[0] });
  assert.equal(
    (await fleets().getFleet({ name: "zeta" })).metadata?.owner,
    "ResourceSync/other-sync",
    "another ResourceSync's fleets are untouched",
  );
});
