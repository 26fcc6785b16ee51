import { fleetTestApp } from "./helpers/fleet-app.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { decodeJson, parseDocuments } from "../server/platform/codec.js";
import { RepositoryService } from "../gen/flightctl/v1beta1/repository_service_pb.js";
import { RepositorySchema } from "../gen/flightctl/v1beta1/repository_pb.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { createClient } from "@connectrpc/connect";
import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import type { TestApp } from "./helpers/app.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";
import { TemplateVersionService } from "../gen/flightctl/v1beta1/templateversion_service_pb.js";
import { createFleetTasks } from "../server/fleets/fleet-tasks.js";
import type { Db } from "../server/platform/resource/resource-store.js";

let t: TestApp;
let db: Db;
const jobs = fleetTestApp((app, appDb) => {
  t = app;
  db = appDb;
});
const drain = () => jobs.drain();

const devices = () => createClient(DeviceService, t.transport);
const fleets = () => createClient(FleetService, t.transport);

async function putDevice(name: string, labels: Record<string, string>) {
  const existing = await devices()
    .getDevice({ name })
    .catch(() => undefined);
  await devices().replaceDevice({
    name,
    device: { apiVersion: "v1beta1", kind: "Device", metadata: { name, labels }, spec: existing?.spec ?? {} },
  });
}

async function putFleet(name: string, selector: JsonObject | undefined, templateSpec: JsonObject = {}, extra: JsonObject = {}) {
  const fleet = fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name },
    spec: { ...(selector ? { selector } : {}), template: { metadata: { labels: { fleet: name } }, spec: templateSpec }, ...extra },
  });
  await fleets().replaceFleet({ name, fleet });
}

const owner = async (name: string) => (await devices().getDevice({ name })).metadata?.owner ?? "";
const condition = async (name: string, type: string) =>
  (await devices().getDevice({ name })).status?.conditions.find((c) => c.type === type);
const events = async (name: string, reason: string) =>
  (await t.db.pool.query(`select details from events where involved_name = $1 and reason = $2 order by seq`, [name, reason])).rows.map(
    (r) => r.details as JsonObject,
  );

test("ownership: one match owns, two keep the owner with MultipleOwners, deletion resolves, an empty selector matches nothing", async () => {
  await putDevice("own-1", { env: "prod", site: "a" });
  await putDevice("own-2", { env: "prod", site: "b" });
  await putDevice("own-3", { env: "dev" });
  await putFleet("prod", { matchLabels: { env: "prod" } });
  await putFleet("nothing", undefined);
  await drain();
  assert.equal(await owner("own-1"), "Fleet/prod");
  assert.equal(await owner("own-2"), "Fleet/prod");
  assert.equal(await owner("own-3"), "", "an unmatched device stays standalone");
  assert.deepEqual((await events("own-1", "ResourceUpdated")).at(-1), {
    detailType: "ResourceUpdated",
    updatedFields: ["owner"],
    previousOwner: "",
    newOwner: "Fleet/prod",
  });

  // A second fleet selecting own-1: the owner stays, MultipleOwners lists both.
  await putFleet("site-a", { matchExpressions: [{ key: "site", operator: "In", values: ["a"] }] });
  await drain();
  assert.equal(await owner("own-1"), "Fleet/prod");
  const multi = await condition("own-1", "MultipleOwners");
  assert.equal(multi?.status, "True");
  assert.match(multi!.message!, /prod, site-a/);
  assert.deepEqual((await events("own-1", "DeviceMultipleOwnersDetected")).at(-1)?.matchingFleets, ["prod", "site-a"]);
  assert.equal(await owner("own-2"), "Fleet/prod", "own-2 matches one fleet only");

  // Deleting one of the two resolves it: SingleMatch, owner kept.
  await fleets().deleteFleet({ name: "prod" });
  await drain();
  assert.equal(await owner("own-1"), "Fleet/site-a");
  assert.equal((await condition("own-1", "MultipleOwners"))?.status, "False");
  const resolved = (await events("own-1", "DeviceMultipleOwnersResolved")).at(-1);
  assert.equal(resolved?.resolutionType, "SingleMatch");
  assert.equal(resolved?.assignedOwner, "Fleet/site-a");
  assert.equal(await owner("own-2"), "", "the deleted fleet's only member is released");

  // A label change moves a device in.
  await putDevice("own-3", { env: "dev", site: "a" });
  await drain();
  assert.equal(await owner("own-3"), "Fleet/site-a");
  // Two fleets, then both deleted: FleetDeleted.
  await putFleet("dev", { matchLabels: { env: "dev" } });
  await drain();
  assert.equal((await condition("own-3", "MultipleOwners"))?.status, "True");
  await fleets().deleteFleet({ name: "dev" });
  await fleets().deleteFleet({ name: "site-a" });
  await drain();
  assert.equal(await owner("own-3"), "");
  assert.equal((await events("own-3", "DeviceMultipleOwnersResolved")).at(-1)?.resolutionType, "FleetDeleted");
});

test("templates: a valid template becomes v<generation> and reaches every member with its parameters; an invalid one never does", async () => {
  for (const [n, site] of [
    ["tpl-1", "berlin"],
    ["tpl-2", "paris"],
  ])
    await putDevice(n, { role: "edge", site });
  const spec = {
    os: { image: "quay.io/example/os:{{ .metadata.labels.site }}" },
    config: [
      {
        name: "motd",
        inline: [
          {
            path: "/etc/motd",
            content:
              'Hello {{ .metadata.name }} in {{ upper .metadata.labels.site }}, tier {{ getOrDefault .metadata.labels "tier" "basic" }}\n',
          },
        ],
      },
    ],
  };
  await putFleet("edge", { matchLabels: { role: "edge" } }, spec);
  await drain();
  const fleet = await fleets().getFleet({ name: "edge" });
  assert.equal(fleet.status?.conditions.find((c) => c.type === "Valid")?.status, "True");
  const tv = fleet.metadata?.annotations["fleet-controller/templateVersion"];
  assert.equal(tv, `v${fleet.metadata?.generation}`);
  const versions = await createClient(TemplateVersionService, t.transport).listTemplateVersions({ fleet: "edge" });
  assert.deepEqual(
    versions.items.map((v) => v.metadata?.name),
    [tv],
  );
  assert.equal(versions.items[0].metadata?.owner, "Fleet/edge");
  for (const [n, site] of [
    ["tpl-1", "berlin"],
    ["tpl-2", "paris"],
  ]) {
    const d = await devices().getDevice({ name: n });
    assert.equal(d.spec?.os?.image, `quay.io/example/os:${site}`);
    const inline = d.spec?.config[0].inline ?? [];
    assert.equal(inline[0].content, `Hello ${n} in ${site.toUpperCase()}, tier basic\n`);
    assert.equal(d.metadata?.annotations["fleet-controller/templateVersion"], tv);
    // And the worker rendered it.
    const r = await t.db.pool.query(`select rendered_version, spec from device_renders where name = $1`, [n]);
    assert.equal(r.rows[0].spec.os.image, `quay.io/example/os:${site}`);
  }

  // A template with an unknown function is refused at write time, naming the field.
  const before = await devices().getDevice({ name: "tpl-1" });
  await assert.rejects(
    putFleet("edge", { matchLabels: { role: "edge" } }, { os: { image: "quay.io/example/os:{{ shout .metadata.name }}" } }),
    /spec\.template\.spec\.os\.image: unknown function "shout"/,
  );

  // A missing repository can only be found by the controller: Valid=False naming it, no new version, devices untouched.
  await putFleet(
    "edge",
    { matchLabels: { role: "edge" } },
    { config: [{ name: "g", gitRef: { repository: "nowhere", targetRevision: "main", path: "/etc" } }] },
  );
  await drain();
  const invalid = await fleets().getFleet({ name: "edge" });
  const valid = invalid.status?.conditions.find((c) => c.type === "Valid");
  assert.equal(valid?.status, "False");
  assert.match(valid!.message!, /spec\.template\.spec\.config\[0\]\.gitRef\.repository: repository "nowhere" does not exist/);
  assert.equal(invalid.metadata?.annotations["fleet-controller/templateVersion"], tv);
  assert.equal((await devices().getDevice({ name: "tpl-1" })).spec?.os?.image, before.spec?.os?.image);
  assert.equal((await events("edge", "FleetInvalid")).length, 1);

  // Fixed: a new version rolls out; a selector-only change makes no new version.
  await putFleet("edge", { matchLabels: { role: "edge" } }, { os: { image: 'quay.io/example/os:{{ lower "V2" }}' } });
  await drain();
  const v2 = (await fleets().getFleet({ name: "edge" })).metadata?.annotations["fleet-controller/templateVersion"];
  assert.notEqual(v2, tv);
  assert.equal((await devices().getDevice({ name: "tpl-2" })).spec?.os?.image, "quay.io/example/os:v2");
  await putFleet("edge", { matchLabels: { role: "edge", site: "paris" } }, { os: { image: 'quay.io/example/os:{{ lower "V2" }}' } });
  await drain();
  const after = await fleets().getFleet({ name: "edge" });
  assert.equal(after.metadata?.annotations["fleet-controller/templateVersion"], v2);
  assert.equal(await owner("tpl-1"), "", "tpl-1 left the fleet");
  // Owned devices refuse direct spec edits.
  await assert.rejects(
    devices().replaceDevice({
      name: "tpl-2",
      device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "tpl-2", labels: { role: "edge", site: "paris" } }, spec: {} },
    }),
  );
});

test("an inline template is rendered in the rollout's own write: one device row write per member, with OutOfDate, its event and the render", async () => {
  for (const n of ["inl-1", "inl-2"]) await putDevice(n, { inl: "yes" });
  const template = (v: string) => ({ config: [{ name: "motd", inline: [{ path: "/etc/motd", content: `${v} {{ .metadata.name }}\n` }] }] });
  await putFleet("inl", { matchLabels: { inl: "yes" } }, template("one"));
  await drain();
  // Both run what is rendered (connected, UpToDate), as agents would have reported.
  await t.db.pool.query(
    `update devices d set status = d.status || jsonb_build_object('summary', '{"status":"Online"}'::jsonb,
        'updated', '{"status":"UpToDate"}'::jsonb, 'config', jsonb_build_object('renderedVersion', r.rendered_version::text))
       from device_renders r where r.org_id = d.org_id and r.name = d.name and d.name like 'inl-%'`,
  );
  // Every row update of the members from here on, counted by a trigger.
  await t.db.pool.query(`create table inl_writes (name text)`);
  await t.db.pool.query(`create function inl_count() returns trigger language plpgsql as $$
    begin insert into inl_writes values (new.name); return new; end $$`);
  await t.db.pool.query(
    `create trigger inl_count after update on devices for each row when (new.name like 'inl-%') execute function inl_count()`,
  );
  try {
    await putFleet("inl", { matchLabels: { inl: "yes" } }, template("two"));
    await drain();
    const tv = (await fleets().getFleet({ name: "inl" })).metadata?.annotations["fleet-controller/templateVersion"];
    const writes = await t.db.pool.query(`select name, count(*)::int n from inl_writes group by 1 order by 1`);
    assert.deepEqual(
      writes.rows.map((r) => [r.name, r.n]),
      [
        ["inl-1", 1],
        ["inl-2", 1],
      ],
      "spec, template version and render marks in one write",
    );
    for (const n of ["inl-1", "inl-2"]) {
      const d = await devices().getDevice({ name: n });
      const r = await t.db.pool.query(`select rendered_version, spec from device_renders where name = $1`, [n]);
      assert.equal(r.rows[0].spec.config[0].inline[0].content, `two ${n}\n`);
      assert.equal(Number(r.rows[0].rendered_version), 3, "v1: the standalone device's empty spec, v2: template one");
      assert.equal(d.metadata?.annotations["fleet-controller/templateVersion"], tv);
      assert.equal(d.metadata?.annotations["fleet-controller/renderedTemplateVersion"], tv);
      assert.equal(d.status?.updated?.status, "OutOfDate");
      assert.equal(d.status?.updated?.info, "Device is running version 2; version 3 is rendered");
      assert.equal(d.status?.summary?.status, "Online", "the rest of the status is left as it was");
      assert.equal((await events(n, "DeviceContentOutOfDate")).length, 1);
      assert.deepEqual(await events(n, "ResourceUpdated").then((e) => e.at(-1)), {
        detailType: "ResourceUpdated",
        updatedFields: ["spec"],
      });
    }
  } finally {
    await t.db.pool.query(`drop trigger inl_count on devices; drop function inl_count(); drop table inl_writes`);
  }
});

test("a rollout waits for the fleet's owners to settle before it picks a batch, and its dry run says so", async () => {
  for (const i of [1, 2, 3, 4]) await putDevice(`settle-${i}`, { settle: "yes" });
  await drain();
  // Batches take connected devices only: these have no agent, so they say they are online.
  await t.db.pool.query(
    `update devices set status = jsonb_set(coalesce(status, '{}'), '{summary}', '{"status":"Online"}') where name like 'settle-%'`,
  );
  // Applying the fleet queues its selection and its validation; run the validation and a tick before the selection.
  await putFleet(
    "settle",
    { matchLabels: { settle: "yes" } },
    {},
    { rolloutPolicy: { deviceSelection: { strategy: "BatchSequence", sequence: [{ limit: "50%" }] } } },
  );
  const tasks = createFleetTasks(db);
  await tasks.validate(DEFAULT_ORG_ID, "settle");
  assert.ok(
    (await fleets().getFleet({ name: "settle" })).metadata?.annotations["fleet-controller/templateVersion"],
    "the template version is ready",
  );
  assert.equal(await tasks.tick(DEFAULT_ORG_ID, "settle"), true, "the tick asks to run again");
  const selected = async () =>
    (
      await t.db.pool.query(
        `select name from devices where name like 'settle-%' and annotations ? 'fleet-controller/selectedForRollout' order by name`,
      )
    ).rows.map((r) => r.name);
  assert.deepEqual(await selected(), [], "no batch picked from a half-known device set");
  const waiting = (await fleets().getFleet({ name: "settle" })).status?.conditions.find((c) => c.type === "RolloutInProgress");
  assert.equal(waiting?.reason, "Waiting");
  assert.match(waiting?.message ?? "", /devices to be selected/);
  const pending = await fleets().planFleetRollout({ name: "settle" });
  assert.equal(pending.selectionPending, true, "the dry run says its device set is not final");
  await drain();
  const plan = await fleets().planFleetRollout({ name: "settle" });
  assert.equal(plan.selectionPending, false);
  assert.deepEqual(
    plan.batches.map((b) => b.devices.length),
    [2, 2],
  );
  // 50 % of all four devices, not of none.
  assert.deepEqual(await selected(), ["settle-1", "settle-2"]);
});

test("a worker killed in the middle of a rollout and started again ends in the same state", async () => {
  const N = 4000;
  await t.db.pool.query(
    `insert into devices (org_id, name, labels, spec, status) select $1, 'kill-' || lpad(i::text, 5, '0'), '{"kill":"yes"}'::jsonb, '{}'::jsonb, '{}'::jsonb
       from generate_series(1, $2) i`,
    [DEFAULT_ORG_ID, N],
  );
  await putFleet(
    "kill",
    { matchLabels: { kill: "yes" } },
    { config: [{ name: "id", inline: [{ path: "/etc/id", content: "I am {{ .metadata.name }}\n" }] }] },
  );
  const worker = () =>
    spawn(process.execPath, ["--import", "tsx", "server/main/worker.ts"], {
      env: { ...process.env, DATABASE_URL: t.db.url, LOG_LEVEL: "error", FLIGHTCTL_STALE_JOB_SECONDS: "3" },
      stdio: "ignore",
    });
  const done = async () =>
    (
      await t.db.pool.query(
        `select count(*)::int n from devices where owner = 'Fleet/kill' and annotations->>'fleet-controller/renderedTemplateVersion' is not null`,
      )
    ).rows[0].n as number;
  const first = worker();
  // Kill it while it holds jobs and the rollout is part-way.
  let lockedAtKill = 0;
  for (let i = 0; i < 600; i++) {
    assert.equal(first.exitCode, null, "the first worker exited on its own (see its log with LOG_LEVEL)");
    const locked = (await t.db.pool.query(`select count(*)::int n from graphile_worker._private_jobs where locked_by is not null`)).rows[0]
      .n as number;
    const n = await done();
    if (locked > 0 && n < N) {
      lockedAtKill = locked;
      first.kill("SIGKILL");
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!lockedAtKill) first.kill("SIGKILL");
  if (first.exitCode === null && first.signalCode === null) await new Promise((r) => first.once("exit", r));
  assert.ok(lockedAtKill > 0, "the worker was killed while holding jobs");
  assert.ok((await done()) < N, "the rollout was not finished when the worker died");
  const second = worker();
  try {
    for (let i = 0; i < 1800 && (await done()) < N; i++) await new Promise((r) => setTimeout(r, 100));
  } finally {
    if (second.exitCode === null && second.signalCode === null) {
      second.kill("SIGTERM");
      await new Promise((r) => second.once("exit", r));
    }
  }
  const tv = (await fleets().getFleet({ name: "kill" })).metadata?.annotations["fleet-controller/templateVersion"];
  const state = await t.db.pool.query(
    `select d.name, d.spec->'config'->0->'inline'->0->>'content' content, d.annotations->>'fleet-controller/renderedTemplateVersion' rtv, r.rendered_version
       from devices d left join device_renders r on r.org_id = d.org_id and r.name = d.name where d.labels->>'kill' = 'yes'`,
  );
  assert.equal(state.rows.length, N);
  for (const row of state.rows) {
    assert.equal(row.content, `I am ${row.name}\n`);
    assert.equal(row.rtv, tv);
    assert.equal(Number(row.rendered_version), 1, `${row.name} rendered once`);
  }
  const specEvents = await t.db.pool.query(
    `select involved_name, count(*)::int n from events where reason = 'ResourceUpdated' and details->'updatedFields' = '["spec"]' and involved_name like 'kill-%' group by 1 having count(*) <> 1`,
  );
  assert.deepEqual(specEvents.rows, [], "one spec update event per device");
});

test("flightctl's fleet examples apply and roll out to their members", async () => {
  const root = new URL("./fixtures/flightctl-examples/", import.meta.url);
  const doc = (f: string) => parseDocuments(readFileSync(new URL(f, root), "utf8"))[0];
  await createClient(RepositoryService, t.transport).replaceRepository({
    name: "flightctl-demos",
    repository: decodeJson(RepositorySchema, doc("repository-flightctl-demos.yaml")),
  });
  for (const f of ["fleet.yaml", "fleet-b.yaml", "fleet-disk-simulator.yaml"]) {
    const fleet = decodeJson(FleetSchema, doc(f));
    await fleets().replaceFleet({ name: fleet.metadata!.name!, fleet });
  }
  await putDevice("ex-default", { fleet: "default" });
  await putDevice("ex-b", { fleet: "fleet-b" });
  await putDevice("ex-sim", { created_by: "device-simulator" });
  await drain();
  const valid = async (name: string) => (await fleets().getFleet({ name })).status?.conditions.find((c) => c.type === "Valid");
  // fleet.yaml: its repository exists, so it is valid and its members get the template.
  assert.equal((await valid("default"))?.status, "True");
  const d = await devices().getDevice({ name: "ex-default" });
  assert.equal(d.metadata?.owner, "Fleet/default");
  assert.equal(d.spec?.os?.image, "quay.io/redhat/rhde:9.2");
  assert.equal(d.spec?.config.map((c) => c.name).join(","), "base,motd-update");
  // fleet-b.yaml names a repository nobody created: invalid, saying which.
  assert.match((await valid("fleet-b"))!.message!, /gitRef\.repository: repository "default-repo" does not exist/);
  assert.equal((await devices().getDevice({ name: "ex-b" })).metadata?.annotations["fleet-controller/templateVersion"], undefined);
  // fleet-disk-simulator.yaml is inline only: rendered completely.
  const sim = await t.db.pool.query(`select spec from device_renders where name = 'ex-sim'`);
  assert.equal(sim.rows[0].spec.config[0].inline[0].content, "This system is managed by flightctl (simulator).");
  assert.equal(sim.rows[0].spec.resources[0].monitorType, "Disk");
});
