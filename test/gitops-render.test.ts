// GitOps rendering against a real git smart-HTTP server (git http-backend, basic auth) and the real worker tasks
// (graphile-worker runOnce drains what the API's writes queued): a fleet's git config reaches its members with the
// right paths, modes and content, read once per template version; a repository change makes a new template version
// while rendered ones keep their frozen content; failures are SpecValid=False and never reach the device; the
// repository tester marks repositories Accessible or not, saying why, flightctl's example repositories included.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { jobDrainer } from "./helpers/jobs.js";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { createClient } from "@connectrpc/connect";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { createTestRepo, startGitHttpServer, type GitHttpServer, type TestRepo } from "./helpers/git-servers.js";
import { decodeJson, parseDocuments } from "../server/platform/codec.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { createDeviceTasks } from "../server/devices/device-tasks.js";
import { createFleetTasks } from "../server/fleets/fleet-tasks.js";
import { createRepositoryTasks } from "../server/repositories/repository-tasks.js";
import { createGitConfigResolver } from "../server/repositories/git-config.js";
import { createGitClient, type GitClient } from "../server/repositories/git.js";
import { memoryContentCache, redisContentCache } from "../server/platform/content-cache.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import type { Db } from "../server/platform/resource/resource-store.js";

const ORG = DEFAULT_ORG_ID;
let t: TestApp;
let db: Db;
let root: string;
let server: GitHttpServer;
let repo: TestRepo;
const jobs = jobDrainer(
  () => t.db.url,
  () => tasks as never,
);
const drain = () => jobs.drain();
/** How often the renderer asked git for what (the repository tester's checks are not counted). */
const counts = { resolve: 0, readPath: 0 };
let git: GitClient;
let tasks: Record<string, unknown>;
let deviceTasks: ReturnType<typeof createDeviceTasks>;
const frozen = memoryContentCache();

before(async () => {
  t = await startTestApp();
  db = drizzle(t.db.pool) as unknown as Db;
  root = mkdtempSync(join(tmpdir(), "gitops-render-"));
  repo = await createTestRepo(join(root, "srv"), "config", {
    "base/etc/motd": "hello v1\n",
    "base/usr/local/bin/hello": { content: "#!/bin/sh\necho hi\n", mode: 0o755 },
    "single.conf": "one\n",
    "evil/var/lib/flightctl/certs/agent.crt": "not yours\n",
  });
  server = await startGitHttpServer({ root: join(root, "srv"), auth: { username: "ann", password: "s3cret-pw" } });
  const real = createGitClient({ cacheDir: join(root, "cache"), timeoutMs: 20_000 });
  git = {
    check: (r) => real.check(r),
    resolve: (r, rev) => (counts.resolve++, real.resolve(r, rev)),
    readPath: (r, c, p, l) => (counts.readPath++, real.readPath(r, c, p, l)),
  };
  deviceTasks = createDeviceTasks(db, { resolvers: { gitRef: createGitConfigResolver(db, frozen, git) } });
  tasks = { ...deviceTasks.tasks, ...createFleetTasks(db, { git }).tasks, ...createRepositoryTasks(db, { git }).tasks };
});
after(async () => {
  await jobs.close();
  await server.close();
  await t.close();
  rmSync(root, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const devices = () => createClient(DeviceService, t.transport);
const fleets = () => createClient(FleetService, t.transport);
const repos = () => createClient(RepositoryService, t.transport);

async function putRepo(name: string, spec: JsonObject) {
  await repos().replaceRepository({
    name,
    repository: fromJson(RepositorySchema, { apiVersion: "v1beta1", kind: "Repository", metadata: { name }, spec }),
  });
}
const gitRepo = (password = "s3cret-pw", extra: JsonObject = {}) => ({
  type: "git",
  url: server.url("config"),
  httpConfig: { username: "ann", password, ...extra },
});

async function putDevice(name: string, labels: Record<string, string>, spec: JsonObject = {}) {
  await devices().replaceDevice({
    name,
    device: { apiVersion: "v1beta1", kind: "Device", metadata: { name, labels }, spec: spec as never },
  });
}

async function putFleet(name: string, selector: Record<string, string>, templateSpec: JsonObject) {
  const fleet = fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name },
    spec: { selector: { matchLabels: selector }, template: { spec: templateSpec } },
  });
  await fleets().replaceFleet({ name, fleet });
}

interface RenderedFile {
  path: string;
  content: string;
  mode?: number;
}
/** The files of a device's rendered spec, decoded; undefined when it has never been rendered. */
async function rendered(name: string): Promise<{ version: number; files: Map<string, RenderedFile> } | undefined> {
  const r = await t.db.pool.query(`select rendered_version, spec from device_renders where org_id = $1 and name = $2`, [ORG, name]);
  if (!r.rows[0]) return undefined;
  const inline = (r.rows[0].spec.config?.[0]?.inline ?? []) as { path: string; content: string; contentEncoding?: string; mode?: number }[];
  const files = new Map(
    inline.map((f) => [
      f.path,
      { path: f.path, mode: f.mode, content: Buffer.from(f.content, f.contentEncoding === "base64" ? "base64" : "utf8").toString() },
    ]),
  );
  return { version: Number(r.rows[0].rendered_version), files };
}
const condition = async (name: string, type: string) =>
  (await devices().getDevice({ name })).status?.conditions.find((c) => c.type === type);
const accessible = async (name: string) => (await repos().getRepository({ name })).status?.conditions.find((c) => c.type === "Accessible");
const events = async (kind: string, name: string, reason: string) =>
  (
    await t.db.pool.query(
      `select message, details from events where involved_kind = $1 and involved_name = $2 and reason = $3 order by seq`,
      [kind, name, reason],
    )
  ).rows as {
    message: string;
    details: JsonObject | null;
  }[];

const template = (extra: JsonObject = {}): { config: JsonObject[] } => ({
  config: [
    { name: "base", gitRef: { repository: "cfg", targetRevision: "main", path: "/base", ...extra } },
    { name: "single", gitRef: { repository: "cfg", targetRevision: "main", path: "/single.conf", mountPath: "/etc/app" } },
  ],
});

test("a fleet's git config reaches every member with its paths, modes and content, read once per template version", async () => {
  await putRepo("cfg", gitRepo());
  const N = 30;
  for (let i = 0; i < N; i++) await putDevice(`g-${String(i).padStart(2, "0")}`, { gitops: "a" });
  await putFleet("gitops", { gitops: "a" }, template());
  counts.resolve = counts.readPath = 0;
  await drain();
  const fleet = await fleets().getFleet({ name: "gitops" });
  assert.equal(fleet.status?.conditions.find((c) => c.type === "Valid")?.status, "True");
  assert.equal(fleet.metadata?.annotations["fleet-controller/templateVersion"], `v${fleet.metadata?.generation}`);
  for (let i = 0; i < N; i++) {
    const r = await rendered(`g-${String(i).padStart(2, "0")}`);
    assert.ok(r, "rendered");
    assert.deepEqual([...r.files.keys()].sort(), ["/etc/app/single.conf", "/etc/motd", "/usr/local/bin/hello"]);
    assert.deepEqual(r.files.get("/etc/motd"), { path: "/etc/motd", content: "hello v1\n", mode: 0o644 });
    assert.deepEqual(r.files.get("/usr/local/bin/hello"), { path: "/usr/local/bin/hello", content: "#!/bin/sh\necho hi\n", mode: 0o755 });
    assert.equal(r.files.get("/etc/app/single.conf")?.content, "one\n");
  }
  // Two providers on one repository and revision, 30 devices: one resolve, one read per path.
  assert.deepEqual(counts, { resolve: 1, readPath: 2 });
  // The tester found it reachable.
  assert.equal((await accessible("cfg"))?.status, "True");
});

test("a new commit reaches the fleet through a repository update or a new template; rendered versions stay frozen", async () => {
  const before = await rendered("g-00");
  const tv1 = (await fleets().getFleet({ name: "gitops" })).metadata?.annotations["fleet-controller/templateVersion"];
  const v2 = await repo.commit({ "base/etc/motd": "hello v2\n" }, "v2");
  // Rendering again changes nothing: the template version's commit and content are frozen.
  await deviceTasks.renderMany(ORG, ["g-00", "g-01"]);
  assert.deepEqual(await rendered("g-00"), before);

  // A repository spec change: the fleet gets a new template version that reads the branch again.
  counts.resolve = counts.readPath = 0;
  await putRepo("cfg", gitRepo("s3cret-pw", { skipServerVerification: false }));
  await drain();
  const fleet = await fleets().getFleet({ name: "gitops" });
  const tv2 = fleet.metadata?.annotations["fleet-controller/templateVersion"];
  assert.notEqual(tv2, tv1);
  assert.match(tv2!, new RegExp(`^v${fleet.metadata?.generation}-[0-9a-f]{8}$`));
  assert.equal((await events("Fleet", "gitops", "ReferencedRepositoryUpdated")).at(-1)?.details?.repository, "cfg");
  const after = await rendered("g-00");
  assert.equal(after?.files.get("/etc/motd")?.content, "hello v2\n");
  assert.equal(after?.version, before!.version + 1);
  assert.equal((await rendered("g-29"))?.files.get("/etc/motd")?.content, "hello v2\n");
  // single.conf did not change, but its commit did: one resolve, two reads for the new version.
  assert.deepEqual(counts, { resolve: 1, readPath: 2 });
  // A device put back on the old version renders its frozen content again, without asking git.
  const setVersion = (tv: string) =>
    t.db.pool.query(
      `update devices set annotations = annotations || jsonb_build_object('fleet-controller/templateVersion', $1::text) where name = 'g-00'`,
      [tv],
    );
  await setVersion(tv1!);
  await deviceTasks.render(ORG, "g-00");
  assert.deepEqual((await rendered("g-00"))?.files, before!.files);
  await setVersion(tv2!);
  await deviceTasks.render(ORG, "g-00");
  assert.equal((await rendered("g-00"))?.files.get("/etc/motd")?.content, "hello v2\n");
  assert.deepEqual(counts, { resolve: 1, readPath: 2 });

  // A new template naming a tag: the tag's commit, not the branch tip.
  await repo.tag("release-1", v2);
  await repo.commit({ "base/etc/motd": "hello v3\n" }, "v3");
  await putFleet("gitops", { gitops: "a" }, template({ targetRevision: "release-1" }));
  await drain();
  assert.equal((await rendered("g-05"))?.files.get("/etc/motd")?.content, "hello v2\n");
});

test("a standalone device reads git per spec generation and is rendered again when its repository changes", async () => {
  await putDevice(
    "solo",
    {},
    { config: [{ name: "base", gitRef: { repository: "cfg", targetRevision: "main", path: "/base", mountPath: "/opt" } }] },
  );
  await drain();
  assert.equal((await rendered("solo"))?.files.get("/opt/etc/motd")?.content, "hello v3\n");
  await repo.commit({ "base/etc/motd": "hello v4\n" }, "v4");
  await drain();
  assert.equal((await rendered("solo"))?.files.get("/opt/etc/motd")?.content, "hello v3\n", "frozen until something changes");
  await putRepo("cfg", gitRepo("s3cret-pw"));
  await drain();
  assert.equal((await rendered("solo"))?.files.get("/opt/etc/motd")?.content, "hello v4\n");
  assert.equal((await events("Device", "solo", "ReferencedRepositoryUpdated")).length, 1);
});

test("a fleet deleted and created again under the same name does not reuse the old versions' frozen content", async () => {
  await fleets().deleteFleet({ name: "gitops" });
  await drain();
  await putFleet("gitops", { gitops: "a" }, template());
  await drain();
  // v1 again, as the first version of the deleted fleet was, but read afresh: main is at v4 now.
  assert.equal((await fleets().getFleet({ name: "gitops" })).metadata?.annotations["fleet-controller/templateVersion"], "v1");
  assert.equal((await rendered("g-03"))?.files.get("/etc/motd")?.content, "hello v4\n");
});

test("workers sharing Redis freeze one commit and read it once between them", async () => {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
  const [a, b] = [redisContentCache(url), redisContentCache(url)];
  try {
    // Unique per run: Redis outlives the test database.
    const ctx = { orgId: ORG, device: "r", freezeKey: `test/${randomUUID()}` };
    counts.resolve = counts.readPath = 0;
    const first = await createGitConfigResolver(db, a, git)(template().config[0], ctx);
    const second = await createGitConfigResolver(db, b, git)(template().config[0], ctx);
    assert.deepEqual(second, first);
    assert.deepEqual(counts, { resolve: 1, readPath: 1 });
  } finally {
    await a.close();
    await b.close();
  }
});

test("a missing path, a bad revision, wrong credentials or a forbidden device path are SpecValid=False and reach no device", async () => {
  await putRepo("cfg-wrong", gitRepo("guess"));
  await putRepo("web", { type: "http", url: "http://127.0.0.1:1/files" });
  const cases: [string, JsonObject, RegExp][] = [
    [
      "bad-path",
      { repository: "cfg", targetRevision: "main", path: "/nope" },
      /^config provider "c": repository "cfg": path "nope" not found at commit [0-9a-f]{7}$/,
    ],
    [
      "bad-rev",
      { repository: "cfg", targetRevision: "no-such-branch", path: "/base" },
      /^config provider "c": repository "cfg": revision "no-such-branch" not found in http:\/\/127\.0\.0\.1:\d+\/config\.git$/,
    ],
    [
      "bad-creds",
      { repository: "cfg-wrong", targetRevision: "main", path: "/base" },
      /^config provider "c": repository "cfg-wrong": authentication failed for http:\/\/127\.0\.0\.1:\d+\/config\.git: check the repository's credentials$/,
    ],
    [
      "bad-target",
      { repository: "cfg", targetRevision: "main", path: "/evil" },
      /^config provider "c": "evil\/var\/lib\/flightctl\/certs\/agent\.crt" at [0-9a-f]{12} would be written to "\/var\/lib\/flightctl\/certs\/agent\.crt", which must not be inside the agent's own files/,
    ],
    [
      "bad-repo",
      { repository: "nowhere", targetRevision: "main", path: "/base" },
      /^config provider "c": repository "nowhere" does not exist$/,
    ],
    [
      "bad-type",
      { repository: "web", targetRevision: "main", path: "/base" },
      /^config provider "c": repository "web" is of type http, not git$/,
    ],
  ];
  for (const [name, gitRef] of cases) await putDevice(name, {}, { config: [{ name: "c", gitRef }] });
  await drain();
  for (const [name, , message] of cases) {
    const c = await condition(name, "SpecValid");
    assert.equal(c?.status, "False", name);
    assert.match(c!.message!, message);
    assert.ok(!c!.message!.includes("guess"), "no secret in the message");
    assert.equal(await rendered(name), undefined, `${name}: nothing reaches the device`);
    assert.equal((await events("Device", name, "DeviceSpecInvalid")).length, 1);
  }

  // A fleet whose template names a bad revision: its members keep what they run.
  await putDevice("member", { gitops: "b" });
  await putFleet(
    "broken",
    { gitops: "b" },
    { config: [{ name: "c", gitRef: { repository: "cfg", targetRevision: "nope", path: "/base" } }] },
  );
  await drain();
  assert.match((await condition("member", "SpecValid"))!.message!, /revision "nope" not found/);
  assert.equal((await rendered("member"))?.files.size ?? 0, 0);
});

test("the repository tester: Accessible with a reason, written only on change, events on transitions", async () => {
  const unreachable = { type: "git", url: "http://127.0.0.1:1/config.git" };
  await putRepo("t-ok", gitRepo());
  await putRepo("t-creds", gitRepo("guess-pw"));
  await putRepo("t-port", unreachable);
  await putRepo("t-http", {
    type: "http",
    url: server.url("config"),
    validationSuffix: "/info/refs?service=git-upload-pack",
    httpConfig: { username: "ann", password: "s3cret-pw" },
  });
  await drain();
  const ok = await accessible("t-ok");
  assert.deepEqual([ok?.status, ok?.reason], ["True", "Accessible"]);
  assert.match(ok!.message!, /^git ls-remote http:\/\/127\.0\.0\.1:\d+\/config\.git succeeded$/);
  const creds = await accessible("t-creds");
  assert.equal(creds?.status, "False");
  assert.equal(creds?.reason, "Inaccessible");
  assert.match(creds!.message!, /^authentication failed for http:\/\/127\.0\.0\.1:\d+\/config\.git: check the repository's credentials$/);
  assert.match((await accessible("t-port"))!.message!, /^cannot reach 127\.0\.0\.1:1: connection (refused|failed)$/);
  assert.equal((await accessible("t-http"))?.status, "True");
  assert.equal((await events("Repository", "t-creds", "RepositoryInaccessible")).length, 1);
  assert.match(
    (await events("Repository", "t-creds", "RepositoryInaccessible"))[0].message,
    /^Repository is inaccessible: authentication failed/,
  );
  assert.equal((await events("Repository", "t-ok", "RepositoryAccessible")).length, 1);

  // The periodic pass (every repository of every org) writes nothing when nothing changed.
  const versions = async () => (await t.db.pool.query(`select name, resource_version from repositories order by name`)).rows;
  const beforeRun = await versions();
  const periodic = createRepositoryTasks(db, { git });
  await periodic.testAll();
  assert.deepEqual(await versions(), beforeRun);

  // Fixed credentials: True again, one RepositoryAccessible event.
  await putRepo("t-creds", gitRepo());
  await drain();
  assert.equal((await accessible("t-creds"))?.status, "True");
  assert.equal((await events("Repository", "t-creds", "RepositoryAccessible")).length, 1);
});

test("flightctl's example repositories apply and are marked not accessible with a clear reason", async () => {
  const dir = new URL("./fixtures/flightctl-examples/", import.meta.url);
  const names: string[] = [];
  for (const f of [
    "repository-flightctl-demos.yaml",
    "repository-flightctl.yaml",
    "repository-http-git.yaml",
    "repository-http.yaml",
    "repository-oci.yaml",
    "repository-ssh.yaml",
  ]) {
    for (const doc of parseDocuments(readFileSync(new URL(f, dir), "utf8"))) {
      const repository = decodeJson(RepositorySchema, doc);
      await repos().replaceRepository({ name: repository.metadata!.name!, repository });
      names.push(repository.metadata!.name!);
    }
  }
  await drain();
  for (const name of names) {
    const c = await accessible(name);
    assert.equal(c?.status, "False", `${name}: ${c?.message}`);
    assert.equal(c?.reason, "Inaccessible");
    // This machine cannot resolve public hosts: the reason says so, naming the host.
    assert.match(
      c!.message!,
      /^(cannot reach (github\.com:(443|22))|GET https:\/\/(my-server\.com\/flightctl|quay\.io\/v2\/)): host not found/,
      `${name}: ${c?.message}`,
    );
    for (const secret of ["mypassword", "testpassphrase", "my-pass"]) assert.ok(!c!.message!.includes(secret), `${name} leaks a secret`);
  }
});
