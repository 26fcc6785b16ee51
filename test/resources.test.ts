// The spine's resource semantics, end to end through the generated clients and a real Postgres:
// CRUD, create-or-replace, JSON Patch limits, status subresource, optimistic concurrency, generation, owner
// protection, secrets masking, events in the same transaction, selectors, paging and organizations.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readFileSync } from "node:fs";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { fromJson, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { DeviceSchema, type Device } from "../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { TemplateVersionService } from "../gen/flightctl/v1beta1/templateversion_service_pb.js";
import { LabelService } from "../gen/flightctl/v1beta1/label_service_pb.js";
import { parseDocuments } from "../server/platform/codec.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { OrganizationService } from "../gen/flightctl/v1beta1/organization_service_pb.js";
import { VersionService } from "../gen/flightctl/v1beta1/version_service_pb.js";
import { AuthService } from "../gen/flightctl/v1beta1/auth_service_pb.js";
import { AuthProviderService } from "../gen/flightctl/v1beta1/authprovider_service_pb.js";
import { AuthProviderSchema } from "../gen/flightctl/v1beta1/authprovider_pb.js";

const examples = new URL("./fixtures/flightctl-examples/", import.meta.url);
const example = (file: string): JsonObject => parseDocuments(readFileSync(new URL(file, examples), "utf8"))[0];

let t: TestApp;
let devices: ReturnType<typeof createClient<typeof DeviceService>>;
let fleets: ReturnType<typeof createClient<typeof FleetService>>;
let repos: ReturnType<typeof createClient<typeof RepositoryService>>;

before(async () => {
  t = await startTestApp();
  devices = createClient(DeviceService, t.transport);
  fleets = createClient(FleetService, t.transport);
  repos = createClient(RepositoryService, t.transport);
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

/** Asserts that `p` fails with `code` and a message containing every fragment. */
async function rejects(p: Promise<unknown>, code: Code, ...fragments: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ConnectError, `expected ConnectError, got ${e}`);
    assert.equal(Code[e.code], Code[code], e.message);
    for (const f of fragments) assert.ok(e.rawMessage.includes(f), `"${e.rawMessage}" should mention "${f}"`);
    return true;
  });
}

/** A google.protobuf.Value for patch operations. */
const val = (v: JsonValue) => fromJson(ValueSchema, v);

const device = (name: string, extra: JsonObject = {}): Device =>
  fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name }, ...extra });

async function eventsOf(name: string) {
  const res = await t.db.pool.query("select reason, actor, details from events where involved_name = $1 order by seq", [name]);
  return res.rows as { reason: string; actor: string; details: JsonObject | null }[];
}

describe("create and get", () => {
  test("a flightctl example device is stored and returned with service metadata and initial status", async () => {
    const doc = example("device-standalone.yaml");
    const created = await devices.createDevice({ device: fromJson(DeviceSchema, doc) });
    assert.equal(created.metadata?.generation, 1);
    assert.match(created.metadata?.resourceVersion ?? "", /^\d+$/);
    assert.ok(created.metadata?.creationTimestamp);
    const got = toJson(DeviceSchema, await devices.getDevice({ name: created.metadata!.name! })) as JsonObject;
    assert.deepEqual(got.spec, (toJson(DeviceSchema, fromJson(DeviceSchema, doc)) as JsonObject).spec);
    assert.deepEqual((got.metadata as JsonObject).labels, { fleet: "none" });
    assert.equal(((got.status as JsonObject).summary as JsonObject).status, "Unknown");
    const evs = await eventsOf(created.metadata!.name!);
    assert.deepEqual(
      evs.map((e) => [e.reason, e.actor]),
      [["ResourceCreated", "user:admin"]],
    );
  });

  test("duplicate names are refused and write no event", async () => {
    await devices.createDevice({ device: device("dup-1") });
    await rejects(devices.createDevice({ device: device("dup-1") }), Code.AlreadyExists, "dup-1");
    assert.equal((await eventsOf("dup-1")).length, 1);
  });

  test("service-managed metadata and status sent by users are ignored", async () => {
    const d = device("managed-1", {
      metadata: { name: "managed-1", owner: "Fleet/x", generation: 7, annotations: { a: "b" }, resourceVersion: "99" },
      status: { summary: { status: "Online" } },
    });
    const created = await devices.createDevice({ device: d });
    assert.equal(created.metadata?.owner, undefined);
    assert.equal(created.metadata?.generation, 1);
    assert.deepEqual(created.metadata?.annotations, {});
    assert.equal(created.status?.summary?.status, "Unknown");
  });

  test("bad input is InvalidArgument naming the field, and nothing is written", async () => {
    await rejects(devices.createDevice({ device: device("Not_A_Name") }), Code.InvalidArgument, "metadata.name");
    await rejects(
      devices.createDevice({ device: device("bad-path", { spec: { config: [{ name: "c", inline: [{ path: "etc/x", content: "" }] }] } }) }),
      Code.InvalidArgument,
      "spec.config[0].inline[0].path",
    );
    await rejects(
      devices.createDevice({ device: device("bad-label", { metadata: { name: "bad-label", labels: { "bad key": "v" } } }) }),
      Code.InvalidArgument,
      "metadata.labels",
    );
    await rejects(devices.createDevice({ device: device("bad-kind", { kind: "Fleet" }) }), Code.InvalidArgument, "kind");
    await rejects(devices.createDevice({}), Code.InvalidArgument, "device");
    const left = await t.db.pool.query("select count(*)::int as n from devices where name in ('bad-path','bad-label','bad-kind')");
    assert.equal(left.rows[0].n, 0);
  });

  test("missing resources are NotFound", async () => {
    await rejects(devices.getDevice({ name: "nope" }), Code.NotFound, "nope");
    await rejects(devices.deleteDevice({ name: "nope" }), Code.NotFound);
  });
});

describe("replace, patch, concurrency, generation, owner", () => {
  test("replace creates, then replaces; generation moves only with spec", async () => {
    const d = device("rep-1", { metadata: { name: "rep-1", labels: { a: "1" } }, spec: { os: { image: "quay.io/x/os:1" } } });
    const first = await devices.replaceDevice({ name: "rep-1", device: d });
    assert.equal(first.metadata?.generation, 1);
    d.metadata!.labels = { a: "2" };
    const labelsOnly = await devices.replaceDevice({ name: "rep-1", device: d });
    assert.equal(labelsOnly.metadata?.generation, 1);
    assert.deepEqual(labelsOnly.metadata?.labels, { a: "2" });
    d.spec!.os!.image = "quay.io/x/os:2";
    const specChanged = await devices.replaceDevice({ name: "rep-1", device: d });
    assert.equal(specChanged.metadata?.generation, 2);
    assert.ok(BigInt(specChanged.metadata!.resourceVersion!) > BigInt(labelsOnly.metadata!.resourceVersion!));
    const evs = await eventsOf("rep-1");
    assert.deepEqual(
      evs.map((e) => e.reason),
      ["ResourceCreated", "ResourceUpdated", "ResourceUpdated"],
    );
    assert.deepEqual(evs[1].details, { detailType: "ResourceUpdated", updatedFields: ["labels"] });
    assert.deepEqual(evs[2].details, { detailType: "ResourceUpdated", updatedFields: ["spec"] });
  });

  test("replace reports created vs replaced in a header", async () => {
    let header = "";
    await devices.replaceDevice(
      { name: "rep-h", device: device("rep-h") },
      { onHeader: (h) => (header = h.get("flightctl-created") ?? "") },
    );
    assert.equal(header, "true");
    await devices.replaceDevice(
      { name: "rep-h", device: device("rep-h", { metadata: { name: "rep-h", labels: { x: "y" } } }) },
      {
        onHeader: (h) => (header = h.get("flightctl-created") ?? ""),
      },
    );
    assert.equal(header, "false");
  });

  test("the name in the request must match metadata.name", async () => {
    await rejects(devices.replaceDevice({ name: "other", device: device("rep-2") }), Code.InvalidArgument, "metadata.name");
  });

  test("a stale resourceVersion is Aborted", async () => {
    const created = await devices.createDevice({ device: device("cas-1") });
    const stale = created.metadata!.resourceVersion!;
    const d = device("cas-1", { metadata: { name: "cas-1", labels: { v: "1" }, resourceVersion: stale } });
    await devices.replaceDevice({ name: "cas-1", device: d });
    d.metadata!.labels = { v: "2" };
    await rejects(devices.replaceDevice({ name: "cas-1", device: d }), Code.Aborted, "modified");
  });

  test("concurrent unconditional writes all land (server-side compare-and-swap retries)", async () => {
    await devices.createDevice({ device: device("cas-2") });
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        devices.patchDevice({ name: "cas-2", patch: [{ op: "add", path: `/metadata/labels/k${i}`, value: val("v") }] }),
      ),
    );
    const got = await devices.getDevice({ name: "cas-2" });
    assert.deepEqual(Object.keys(got.metadata!.labels).sort(), ["k0", "k1", "k2", "k3", "k4"]);
  });

  test("patch is limited to labels and spec, and validates the result", async () => {
    await devices.createDevice({ device: device("patch-1", { spec: { os: { image: "quay.io/x/os:1" } } }) });
    const patched = await devices.patchDevice({
      name: "patch-1",
      patch: [
        { op: "add", path: "/metadata/labels/region", value: val("eu") },
        { op: "replace", path: "/spec/os/image", value: val("quay.io/x/os:2") },
      ],
    });
    assert.equal(patched.metadata?.labels.region, "eu");
    assert.equal(patched.spec?.os?.image, "quay.io/x/os:2");
    assert.equal(patched.metadata?.generation, 2);
    await rejects(
      devices.patchDevice({ name: "patch-1", patch: [{ op: "replace", path: "/status/summary/status", value: val("Online") }] }),
      Code.InvalidArgument,
      "patch[0].path",
    );
    await rejects(
      devices.patchDevice({ name: "patch-1", patch: [{ op: "replace", path: "/metadata/name", value: val("x") }] }),
      Code.InvalidArgument,
      "patch[0].path",
    );
    await rejects(
      devices.patchDevice({ name: "patch-1", patch: [{ op: "test", path: "/spec/os/image", value: val("nope") }] }),
      Code.InvalidArgument,
      "patch[0]",
      "test",
    );
    await rejects(
      devices.patchDevice({ name: "patch-1", patch: [{ op: "add", path: "/spec/bogus", value: val("x") }] }),
      Code.InvalidArgument,
      "spec.bogus",
      "unknown field",
    );
    await rejects(
      devices.patchDevice({
        name: "patch-1",
        patch: [{ op: "add", path: "/spec/config", value: val([{ name: "c", inline: [{ path: "rel/path", content: "" }] }]) }],
      }),
      Code.InvalidArgument,
      "spec.config[0].inline[0].path",
    );
    const after = await devices.getDevice({ name: "patch-1" });
    assert.equal(after.spec?.os?.image, "quay.io/x/os:2");
  });

  test("spec of an owned resource cannot be changed by users; labels can", async () => {
    await devices.createDevice({ device: device("owned-1", { spec: { os: { image: "quay.io/x/os:1" } } }) });
    await t.db.pool.query("update devices set owner = 'Fleet/f1' where name = 'owned-1'");
    const d = device("owned-1", { metadata: { name: "owned-1", labels: { a: "b" } }, spec: { os: { image: "quay.io/x/os:9" } } });
    await rejects(devices.replaceDevice({ name: "owned-1", device: d }), Code.FailedPrecondition, 'Device "owned-1" is owned by Fleet/f1');
    d.spec!.os!.image = "quay.io/x/os:1";
    const ok = await devices.replaceDevice({ name: "owned-1", device: d });
    assert.equal(ok.metadata?.owner, "Fleet/f1");
    assert.deepEqual(ok.metadata?.labels, { a: "b" });
  });

  test("delete removes the resource and records an event", async () => {
    await devices.createDevice({ device: device("del-1") });
    await devices.deleteDevice({ name: "del-1" });
    await rejects(devices.getDevice({ name: "del-1" }), Code.NotFound);
    assert.deepEqual(
      (await eventsOf("del-1")).map((e) => e.reason),
      ["ResourceCreated", "ResourceDeleted"],
    );
  });
});

describe("status subresource", () => {
  test("replace and patch status touch only status", async () => {
    await devices.createDevice({ device: device("st-1", { spec: { os: { image: "quay.io/x/os:1" } } }) });
    const d = device("st-1", { spec: { os: { image: "ignored/other:1" } }, status: { summary: { status: "Online", info: "ok" } } });
    const res = await devices.replaceDeviceStatus({ name: "st-1", device: d });
    assert.equal(res.status?.summary?.status, "Online");
    assert.equal(res.spec?.os?.image, "quay.io/x/os:1");
    assert.equal(res.metadata?.generation, 1);
    const patched = await devices.patchDeviceStatus({
      name: "st-1",
      patch: [{ op: "replace", path: "/status/summary/status", value: val("Degraded") }],
    });
    assert.equal(patched.status?.summary?.status, "Degraded");
    await rejects(
      devices.patchDeviceStatus({ name: "st-1", patch: [{ op: "replace", path: "/spec/os/image", value: val("x") }] }),
      Code.InvalidArgument,
      "patch[0].path",
    );
    assert.equal((await devices.getDeviceStatus({ name: "st-1" })).status?.summary?.status, "Degraded");
  });
});

describe("lists: selectors and paging", () => {
  before(async () => {
    for (let i = 0; i < 25; i++) {
      const labels: Record<string, string> = { set: "list", idx: String(i), region: i % 2 ? "eu" : "us" };
      if (i % 5 === 0) labels.special = "yes";
      await devices.createDevice({
        device: device(`list-${String(i).padStart(2, "0")}`, { metadata: { name: `list-${String(i).padStart(2, "0")}`, labels } }),
      });
    }
    await t.db.pool.query(
      `update devices set status = jsonb_set(status, '{summary,status}', '"Online"') where name in ('list-01','list-02')`,
    );
  });
  const names = async (labelSelector: string, fieldSelector = "") =>
    (await devices.listDevices({ options: { labelSelector, fieldSelector } })).items.map((d) => d.metadata!.name!);

  test("label selectors: =, !=, in, notin, exists, !exists", async () => {
    assert.equal((await names("set=list,region=eu")).length, 12);
    assert.equal((await names("set==list,region!=eu")).length, 13);
    assert.deepEqual(await names("set=list,idx in (3,4)"), ["list-03", "list-04"]);
    assert.equal((await names("set=list,idx notin (3,4)")).length, 23);
    assert.deepEqual(await names("set=list,special"), ["list-00", "list-05", "list-10", "list-15", "list-20"]);
    assert.equal((await names("set=list,!special")).length, 20);
  });

  test("field selectors, and unknown fields name the supported ones", async () => {
    assert.deepEqual(await names("set=list", "status.summary.status=Online"), ["list-01", "list-02"]);
    assert.deepEqual(await names("", "metadata.name=list-07"), ["list-07"]);
    await rejects(
      devices.listDevices({ options: { fieldSelector: "status.bogus=1" } }),
      Code.InvalidArgument,
      "fieldSelector",
      "status.summary.status",
    );
    await rejects(devices.listDevices({ options: { labelSelector: "a in (b" } }), Code.InvalidArgument, "labelSelector");
  });

  test("keyset paging walks every item once, with remainingItemCount", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    const remaining: number[] = [];
    do {
      const page = await devices.listDevices({ options: { labelSelector: "set=list", limit: 10, continueToken: token } });
      seen.push(...page.items.map((d) => d.metadata!.name!));
      token = page.metadata?.continueToken;
      if (token) remaining.push(page.metadata!.remainingItemCount!);
    } while (token);
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
    assert.deepEqual(seen, [...seen].sort());
    assert.deepEqual(remaining, [15, 5]);
  });

  test("limit rules and bad continue tokens", async () => {
    await rejects(devices.listDevices({ options: { limit: 1001 } }), Code.InvalidArgument, "limit");
    await rejects(devices.listDevices({ options: { limit: -1 } }), Code.InvalidArgument, "limit");
    await rejects(devices.listDevices({ options: { continueToken: "garbage" } }), Code.InvalidArgument, "continue");
    const all = await devices.listDevices({ options: { labelSelector: "set=list", limit: 0 } });
    assert.equal(all.items.length, 25);
    assert.equal(all.metadata?.continueToken, undefined);
  });

  test("summaryOnly counts statuses and refuses paging", async () => {
    const res = await devices.listDevices({ options: { labelSelector: "set=list" }, summaryOnly: true });
    assert.equal(res.items.length, 0);
    assert.equal(res.summary?.total, 25);
    assert.deepEqual(res.summary?.summaryStatus, { Online: 2, Unknown: 23 });
    await rejects(devices.listDevices({ options: { limit: 5 }, summaryOnly: true }), Code.InvalidArgument, "limit");
  });

  test("concurrent summaries share runs but never answer from before the caller's own write", async () => {
    const summary = () => devices.listDevices({ options: { labelSelector: "set=list" }, summaryOnly: true });
    const setOnline = (name: string, status: string) =>
      t.db.pool.query(`update devices set status = jsonb_set(status, '{summary,status}', to_jsonb($2::text)) where name = $1`, [
        name,
        status,
      ]);
    try {
      // Others' summaries in flight while this caller writes and then reads: its read must count the write.
      const others = Array.from({ length: 4 }, summary);
      await setOnline("list-03", "Online");
      const mine = summary();
      const more = Array.from({ length: 4 }, summary);
      assert.deepEqual((await mine).summary?.summaryStatus, { Online: 3, Unknown: 22 });
      for (const r of await Promise.all(more)) assert.deepEqual(r.summary?.summaryStatus, { Online: 3, Unknown: 22 });
      for (const r of await Promise.all(others)) assert.equal(r.summary?.total, 25);
    } finally {
      await setOnline("list-03", "Unknown");
    }
  });

  test("labels listing returns distinct pairs", async () => {
    const labels = createClient(LabelService, t.transport);
    const res = await labels.listLabels({ kind: "Device", labelSelector: "set=list,special" });
    assert.ok(res.labels.includes("special=yes"));
    assert.ok(res.labels.includes("region=us"));
    assert.equal(res.labels.filter((l) => l === "special=yes").length, 1);
    await rejects(labels.listLabels({ kind: "Fleet" }), Code.InvalidArgument, "kind");
  });
});

describe("organizations", () => {
  test("unknown and malformed org ids are refused", async () => {
    await rejects(devices.getDevice({ name: "x", orgId: "11111111-1111-1111-1111-111111111111" }), Code.NotFound, "Organization");
    await rejects(devices.getDevice({ name: "x", orgId: "not-a-uuid" }), Code.InvalidArgument, "orgId");
  });

  test("resources are scoped by organization", async () => {
    const other = "22222222-2222-2222-2222-222222222222";
    await t.db.pool.query("insert into organizations (id, display_name) values ($1, 'other')", [other]);
    await devices.createDevice({ device: device("org-scoped"), orgId: other });
    await rejects(devices.getDevice({ name: "org-scoped" }), Code.NotFound);
    assert.equal((await devices.getDevice({ name: "org-scoped", orgId: other })).metadata?.name, "org-scoped");
    const inOther = await devices.listDevices({ orgId: other });
    assert.deepEqual(
      inOther.items.map((d) => d.metadata?.name),
      ["org-scoped"],
    );
  });
});

describe("repositories, fleets, template versions", () => {
  test("repository secrets are masked on read and kept when the mask is sent back", async () => {
    const doc = example("repository-http-git.yaml");
    const created = await repos.createRepository({ repository: fromJson(RepositorySchema, doc) });
    assert.equal(created.spec?.httpConfig?.password, "*****");
    const back = await repos.getRepository({ name: "flightctl-http-git" });
    back.metadata!.labels = { touched: "yes" };
    await repos.replaceRepository({ name: "flightctl-http-git", repository: back });
    const stored = await t.db.pool.query("select spec from repositories where name = 'flightctl-http-git'");
    assert.equal(stored.rows[0].spec.httpConfig.password, "mypassword");
  });

  test("the bad fleet example is refused naming its fields", async () => {
    const bad = example("test-data/badfleetrequest.yaml");
    delete ((bad.spec as JsonObject).rolloutPolicy as JsonObject).disruptionAllowance; // unknown key: the decoder's refusal is tested in compat tests
    await rejects(
      fleets.createFleet({ fleet: fromJson(FleetSchema, bad) }),
      Code.InvalidArgument,
      "spec.rolloutPolicy.deviceSelection.sequence[0].limit",
    );
  });

  test("fleets report a devices summary on request", async () => {
    await fleets.createFleet({ fleet: fromJson(FleetSchema, example("fleet.yaml")) });
    for (const n of ["fd-1", "fd-2"]) {
      await devices.createDevice({ device: device(n) });
      await t.db.pool.query("update devices set owner = 'Fleet/default' where name = $1", [n]);
    }
    const f = await fleets.getFleet({ name: "default", addDevicesSummary: true });
    assert.equal(f.status?.devicesSummary?.total, 2);
    assert.deepEqual(f.status?.devicesSummary?.summaryStatus, { Unknown: 2 });
    const list = await fleets.listFleets({ addDevicesSummary: true });
    assert.equal(list.items.find((x) => x.metadata?.name === "default")?.status?.devicesSummary?.total, 2);
  });

  test("template versions are listed and deleted within their fleet", async () => {
    await t.db.pool.query(
      `insert into template_versions (org_id, fleet_name, name, owner, spec, status) values
       ('00000000-0000-0000-0000-000000000000', 'default', 'v1', 'Fleet/default', '{"fleet":"default"}', '{"os":{"image":"quay.io/x:1"}}'),
       ('00000000-0000-0000-0000-000000000000', 'other', 'v1', 'Fleet/other', '{"fleet":"other"}', null)`,
    );
    const tvs = createClient(TemplateVersionService, t.transport);
    const list = await tvs.listTemplateVersions({ fleet: "default" });
    assert.deepEqual(
      list.items.map((x) => [x.metadata?.name, x.status?.os?.image]),
      [["v1", "quay.io/x:1"]],
    );
    await tvs.deleteTemplateVersion({ fleet: "default", name: "v1" });
    await rejects(tvs.getTemplateVersion({ fleet: "default", name: "v1" }), Code.NotFound);
    assert.equal((await tvs.getTemplateVersion({ fleet: "other", name: "v1" })).spec?.fleet, "other");
    await rejects(tvs.listTemplateVersions({ fleet: "" }), Code.InvalidArgument, "fleet");
  });
});

describe("events, organizations, version, auth config", () => {
  test("events are listed newest first, filtered by field selectors, paged", async () => {
    const events = createClient(EventService, t.transport);
    await devices.createDevice({ device: device("ev-1") });
    await devices.replaceDevice({ name: "ev-1", device: device("ev-1", { metadata: { name: "ev-1", labels: { a: "b" } } }) });
    await devices.deleteDevice({ name: "ev-1" });
    const mine = await events.listEvents({ options: { fieldSelector: "involvedObject.kind=Device,involvedObject.name=ev-1" } });
    assert.deepEqual(
      mine.items.map((e) => e.reason),
      ["ResourceDeleted", "ResourceUpdated", "ResourceCreated"],
    );
    assert.equal(mine.items[1].details?.detailType, "ResourceUpdated");
    assert.deepEqual(mine.items[1].details?.updatedFields, ["labels"]);
    assert.equal(mine.items[0].actor, "user:admin");
    const asc = await events.listEvents({ options: { fieldSelector: "involvedObject.name=ev-1" }, order: "asc" });
    assert.equal(asc.items[0].reason, "ResourceCreated");
    const first = await events.listEvents({ options: { fieldSelector: "involvedObject.name=ev-1", limit: 2 } });
    assert.equal(first.metadata?.remainingItemCount, 1);
    const second = await events.listEvents({
      options: { fieldSelector: "involvedObject.name=ev-1", limit: 2, continueToken: first.metadata?.continueToken },
    });
    assert.deepEqual(
      second.items.map((e) => e.reason),
      ["ResourceCreated"],
    );
    const one = await events.getEvent({ name: first.items[0].metadata!.name! });
    assert.equal(one.reason, "ResourceDeleted");
    await rejects(
      events.listEvents({ options: { fieldSelector: "bogus=1" } }),
      Code.InvalidArgument,
      "fieldSelector",
      "involvedObject.name",
    );
    await rejects(events.listEvents({ order: "sideways" }), Code.InvalidArgument, "order");
  });

  test("organizations, version and auth config answer", async () => {
    const orgs = await createClient(OrganizationService, t.transport).listOrganizations({});
    assert.ok(orgs.items.some((o) => o.metadata?.name === "00000000-0000-0000-0000-000000000000"));
    const version = await createClient(VersionService, t.transport).getVersion({});
    assert.match(version.version, /^v\d+\.\d+\.\d+/);
    const auth = createClient(AuthService, t.transport);
    const providers = createClient(AuthProviderService, t.transport);
    await providers.createAuthProvider({
      authProvider: fromJson(AuthProviderSchema, {
        apiVersion: "flightctl.io/v1beta1",
        kind: "AuthProvider",
        metadata: { name: "corp" },
        spec: { providerType: "oidc", issuer: "https://idp.example.com", clientId: "fc", clientSecret: "s3cret" },
      }),
    });
    const config = await auth.getAuthConfig({});
    assert.equal(config.defaultProvider, "corp");
    assert.equal(config.providers[0].spec?.clientSecret, "*****");
  });
});
