// Repositories of type oci against real registries (Debian's docker-registry on loopback, one open and one with
// htpasswd basic auth) holding an image pushed by real podman: the password is write-only, the repository tester
// marks the repository Accessible or not (wrong password, nothing listening) through the real worker task, and
// flightctl's check-oci-tag / check-oci-image answer present, absent, refused and unreachable; bad input names the
// field. (The Bearer token flow is tested against a token-auth fake in server/repositories/oci-checks.test.ts: this
// registry needs a token server to do it.)
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { jobDrainer } from "./helpers/jobs.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";
import { freePort } from "./helpers/ports.js";
import {
  type CheckRepositoryOciResult,
  CheckRepositoryOciResultSchema,
  RepositoryService,
} from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { createRepositoryTasks } from "../server/repositories/repository-tasks.js";
import type { GitClient } from "../server/repositories/git.js";
import type { Db } from "../server/platform/resource/resource-store.js";
import { fieldViolations } from "../lib/field-violations.js";
import { columns } from "../cli/output.js";

const AUTH = { username: "ann", password: "reg-s3cret" };
let t: TestApp;
let open: OciRegistry;
let locked: OciRegistry;
let podman: PodmanEnv;
let tasks: Record<string, unknown>;
const jobs = jobDrainer(
  () => t.db.url,
  () => tasks as never,
);

before(async () => {
  [open, locked] = await Promise.all([startOciRegistry(), startOciRegistry({ auth: AUTH })]);
  podman = await startPodmanEnv({ insecureRegistries: [open.host, locked.host] });
  await podman.buildImage("localhost/bb:1");
  await podman.pushImage("localhost/bb:1", `${open.host}/apps/bb:1`);
  await podman.pushImage("localhost/bb:1", `${locked.host}/apps/bb:1`, AUTH);
  t = await startTestApp();
  const db = drizzle(t.db.pool) as unknown as Db;
  // oci repositories never reach git.
  tasks = createRepositoryTasks(db, { git: {} as GitClient }).tasks;
});

after(async () => {
  await jobs.close();
  await t?.close();
  await podman?.close();
  await Promise.all([open?.close(), locked?.close()]);
  await assertNoOpenHandles();
});

const repos = () => createClient(RepositoryService, t.transport);
async function putRepo(name: string, spec: JsonObject) {
  return repos().replaceRepository({
    name,
    repository: fromJson(RepositorySchema, { apiVersion: "flightctl.io/v1beta1", kind: "Repository", metadata: { name }, spec }),
  });
}
const ociSpec = (reg: OciRegistry, password?: string): JsonObject => ({
  type: "oci",
  registry: reg.host,
  scheme: "http",
  accessMode: "Read",
  ...(password ? { ociAuth: { authType: "docker", username: AUTH.username, password } } : {}),
});
const accessible = async (name: string) => (await repos().getRepository({ name })).status?.conditions.find((c) => c.type === "Accessible");

/** The error of a call that must fail, as a ConnectError. */
async function failure(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  assert.fail("expected the call to fail");
}

test("an oci repository's password is write-only: masked on read, kept when the mask is sent back", async () => {
  const created = await putRepo("reg-ok", ociSpec(locked, AUTH.password));
  assert.equal(created.spec?.ociAuth?.password, "*****");
  const got = await repos().getRepository({ name: "reg-ok" });
  assert.deepEqual(toJson(RepositorySchema, got).spec, {
    type: "oci",
    registry: locked.host,
    scheme: "http",
    accessMode: "Read",
    ociAuth: { authType: "docker", username: "ann", password: "*****" },
  });
  const listed = await repos().listRepositories({});
  assert.equal(listed.items.find((r) => r.metadata?.name === "reg-ok")?.spec?.ociAuth?.password, "*****");
  const stored = await t.db.pool.query(`select spec from repositories where name = 'reg-ok'`);
  assert.equal(stored.rows[0].spec.ociAuth.password, AUTH.password);
  // Applying what was read (the mask) keeps the password.
  await putRepo("reg-ok", toJson(RepositorySchema, got).spec as JsonObject);
  assert.equal((await t.db.pool.query(`select spec from repositories where name = 'reg-ok'`)).rows[0].spec.ociAuth.password, AUTH.password);
});

test("the repository tester: Accessible with the right password, not with a wrong one or nobody listening", async () => {
  const deadPort = await freePort();
  await putRepo("reg-ok", ociSpec(locked, AUTH.password));
  await putRepo("reg-open", ociSpec(open));
  await putRepo("reg-wrong", ociSpec(locked, "not-the-password"));
  await putRepo("reg-dead", { ...ociSpec(open), registry: `127.0.0.1:${deadPort}` });
  await jobs.drain();

  const ok = await accessible("reg-ok");
  assert.deepEqual([ok?.status, ok?.reason, ok?.message], ["True", "Accessible", `GET http://${locked.host}/v2/ answered 200`]);
  assert.equal((await accessible("reg-open"))?.status, "True");
  const wrong = await accessible("reg-wrong");
  assert.deepEqual([wrong?.status, wrong?.reason], ["False", "Inaccessible"]);
  assert.equal(wrong?.message, `authentication failed: GET http://${locked.host}/v2/ refused the credentials of ociAuth (401)`);
  const dead = await accessible("reg-dead");
  assert.equal(dead?.status, "False");
  assert.match(dead!.message!, new RegExp(`^GET http://127\\.0\\.0\\.1:${deadPort}/v2/: connection refused`));

  // The CLI's table shows the registry where git and http repositories show their URL.
  const row = columns("Repository").row(toJson(RepositorySchema, await repos().getRepository({ name: "reg-ok" })) as JsonObject);
  assert.deepEqual(row, ["reg-ok", "oci", locked.host, "True"]);

  // The password fixed: Accessible.
  await putRepo("reg-wrong", ociSpec(locked, AUTH.password));
  await jobs.drain();
  assert.equal((await accessible("reg-wrong"))?.status, "True");
});

test("check-oci-tag: a pushed tag is accessible, an absent one is a 404 result, refused credentials a 401 result", async () => {
  await putRepo("chk", ociSpec(locked, AUTH.password));
  await putRepo("chk-open", ociSpec(open));
  await putRepo("chk-wrong", ociSpec(locked, "not-the-password"));
  assert.deepEqual(toJsonOf(await repos().checkRepositoryOciTag({ name: "chk", imageName: "apps/bb", tag: "1" })), { accessible: true });
  assert.deepEqual(toJsonOf(await repos().checkRepositoryOciTag({ name: "chk-open", imageName: "apps/bb", tag: "1" })), {
    accessible: true,
  });

  const absent = toJsonOf(await repos().checkRepositoryOciTag({ name: "chk", imageName: "apps/bb", tag: "2" }));
  assert.equal(absent.accessible, false);
  assert.equal(absent.errorCode, 404);
  assert.equal(absent.errorMessage, `tag "2" of image "apps/bb" not found in registry ${locked.host}`);

  const refused = toJsonOf(await repos().checkRepositoryOciTag({ name: "chk-wrong", imageName: "apps/bb", tag: "1" }));
  assert.equal(refused.accessible, false);
  assert.equal(refused.errorCode, 401);
  assert.match(
    String(refused.errorMessage),
    /^registry 127\.0\.0\.1:\d+ refused the credentials for tag "1" of image "apps\/bb" \(401\): check the repository's ociAuth/,
  );
  assert.doesNotMatch(String(refused.errorMessage), /not-the-password/);
});

test("check-oci-image: a pushed image is accessible, an unknown one is a 404 result naming it", async () => {
  await putRepo("chk", ociSpec(locked, AUTH.password));
  assert.deepEqual(toJsonOf(await repos().checkRepositoryOciImage({ name: "chk", imageName: "apps/bb" })), { accessible: true });
  const absent = toJsonOf(await repos().checkRepositoryOciImage({ name: "chk", imageName: "apps/nope" }));
  assert.equal(absent.accessible, false);
  assert.equal(absent.errorCode, 404);
  assert.match(
    String(absent.errorMessage),
    new RegExp(`^image "apps/nope" not found in registry ${locked.host.replace(/\./g, "\\.")} \\(NAME_UNKNOWN: `),
  );
});

test("a registry nobody answers for is Unavailable, saying so", async () => {
  const deadPort = await freePort();
  await putRepo("chk-dead", { ...ociSpec(open), registry: `127.0.0.1:${deadPort}` });
  for (const call of [
    repos().checkRepositoryOciTag({ name: "chk-dead", imageName: "apps/bb", tag: "1" }),
    repos().checkRepositoryOciImage({ name: "chk-dead", imageName: "apps/bb" }),
  ]) {
    const e = await failure(call);
    assert.equal(e.code, Code.Unavailable);
    assert.match(e.rawMessage, new RegExp(`^registry 127\\.0\\.0\\.1:${deadPort} cannot be reached: connection refused`));
  }
});

test("bad check input names the field; an unknown repository is NotFound; a git repository is not a registry", async () => {
  await putRepo("chk", ociSpec(locked, AUTH.password));
  const cases: [Promise<unknown>, string, RegExp][] = [
    [repos().checkRepositoryOciTag({ name: "chk", imageName: "Apps/BB", tag: "1" }), "imageName", /is not an image name/],
    [repos().checkRepositoryOciTag({ name: "chk", imageName: "apps/bb:1", tag: "1" }), "imageName", /must not include a tag or digest/],
    [repos().checkRepositoryOciTag({ name: "chk", imageName: "apps/bb", tag: "-x" }), "tag", /is not a tag/],
    [repos().checkRepositoryOciTag({ name: "chk", imageName: "apps/bb", tag: "" }), "tag", /is required/],
    [repos().checkRepositoryOciImage({ name: "chk", imageName: "" }), "imageName", /is required/],
    [repos().checkRepositoryOciImage({ name: "chk", imageName: `a/${"b".repeat(260)}` }), "imageName", /at most 255/],
  ];
  for (const [call, field, message] of cases) {
    const e = await failure(call);
    assert.equal(e.code, Code.InvalidArgument, e.rawMessage);
    const v = fieldViolations(e);
    assert.equal(v.length, 1, JSON.stringify(v));
    assert.equal(v[0].field, field);
    assert.match(v[0].message, message);
  }
  const missing = await failure(repos().checkRepositoryOciTag({ name: "no-such-repo", imageName: "apps/bb", tag: "1" }));
  assert.equal(missing.code, Code.NotFound);
  assert.match(missing.rawMessage, /no-such-repo/);
  await putRepo("a-git-repo", { type: "git", url: "https://github.com/flightctl/flightctl.git" });
  const notOci = await failure(repos().checkRepositoryOciImage({ name: "a-git-repo", imageName: "apps/bb" }));
  assert.equal(notOci.code, Code.InvalidArgument);
  assert.deepEqual(fieldViolations(notOci), [{ field: "name", message: `repository "a-git-repo" is of type "git", not "oci"` }]);
});

test("bad oci repository specs are refused, naming the field", async () => {
  const cases: [JsonObject, string][] = [
    [{ type: "oci" }, "spec.registry"],
    [{ type: "oci", registry: "quay.io", url: "https://quay.io" }, "spec.url"],
    [{ type: "oci", registry: "quay.io", scheme: "ftp" }, "spec.scheme"],
    [{ type: "oci", registry: "quay.io", accessMode: "Write" }, "spec.accessMode"],
    [{ type: "oci", registry: "quay.io", ociAuth: { authType: "basic", username: "u", password: "p" } }, "spec.ociAuth.authType"],
    [{ type: "oci", registry: "quay.io", ociAuth: { authType: "docker", username: "u" } }, "spec.ociAuth.password"],
    [{ type: "oci", registry: "quay.io", "ca.crt": "not base64!" }, 'spec["ca.crt"]'],
  ];
  for (const [spec, field] of cases) {
    const e = await failure(putRepo("bad-oci", spec));
    assert.equal(e.code, Code.InvalidArgument, `${JSON.stringify(spec)}: ${e.rawMessage}`);
    assert.ok(
      fieldViolations(e).some((v) => v.field === field),
      `${JSON.stringify(spec)}: expected a violation of ${field}, got ${JSON.stringify(fieldViolations(e))}`,
    );
  }
});

/** A check result as flightctl's JSON (what a REST client receives: `accessible` present even when false). */
const toJsonOf = (r: CheckRepositoryOciResult) => toJson(CheckRepositoryOciResultSchema, r) as JsonObject;
