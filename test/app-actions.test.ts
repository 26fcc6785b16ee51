import { fleetTestApp } from "./helpers/fleet-app.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { fromJson, toJson, type JsonObject } from "@bufbuild/protobuf";
import type { TestApp } from "./helpers/app.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetService } from "../gen/flightctl/v1beta1/fleet_service_pb.js";
import { EventService } from "../gen/flightctl/v1beta1/event_service_pb.js";
import { DeviceSchema } from "../gen/flightctl/v1beta1/device_pb.js";
import { FleetSchema } from "../gen/flightctl/v1beta1/fleet_pb.js";

let t: TestApp;
const jobs = fleetTestApp((app) => {
  t = app;
});
const drain = () => jobs.drain();

const devices = () => createClient(DeviceService, t.transport);
const fleets = () => createClient(FleetService, t.transport);
const code = (c: Code, re?: RegExp) => (e: unknown) => ConnectError.from(e).code === c && (!re || re.test(ConnectError.from(e).rawMessage));

const apps: JsonObject[] = [
  { name: "web", appType: "compose", inline: [{ path: "docker-compose.yaml", content: "services: {}\n" }] },
  { appType: "container", image: "quay.io/example/db:1" },
];

async function putDevice(name: string, spec: JsonObject, labels: Record<string, string> = {}) {
  await devices().replaceDevice({
    name,
    device: fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name, labels }, spec }),
  });
}

/** The rendered device as a user reads it, in flightctl JSON. */
async function rendered(name: string) {
  const r = await devices().getRenderedDevice({ name });
  assert.ok(r.device, "a rendered device");
  const json = toJson(DeviceSchema, r.device) as {
    metadata: { annotations: Record<string, string> };
    spec: { applications?: JsonObject[] };
  };
  return { version: Number(json.metadata.annotations["device-controller/renderedVersion"]), spec: json.spec };
}
const appOf = (spec: { applications?: JsonObject[] }, name: string) =>
  spec.applications?.find((a) => (a.name ?? a.image) === name) as JsonObject | undefined;
const reasons = async (name: string) =>
  (await createClient(EventService, t.transport).listEvents({ options: { fieldSelector: `involvedObject.name=${name}` } })).items.map(
    (e) => e.reason,
  );

test("GetRenderedDevice: the rendered spec and version, empty when the known version is current, errors named", async () => {
  await assert.rejects(devices().getRenderedDevice({ name: "nope" }), code(Code.NotFound));
  await putDevice("r-1", { applications: apps, config: [{ name: "a", inline: [{ path: "/etc/a", content: "x" }] }] });
  // Not rendered yet: a clear precondition, not an empty answer.
  await assert.rejects(devices().getRenderedDevice({ name: "r-1" }), code(Code.FailedPrecondition, /no rendered version yet/));
  await drain();
  const r = await rendered("r-1");
  assert.equal(r.version, 1);
  // The same shape the agent gets: config providers merged into the one rendered-config provider.
  assert.deepEqual(
    (r.spec as { config?: { name: string }[] }).config?.map((c) => c.name),
    ["rendered-config"],
  );
  assert.equal(appOf(r.spec, "web")?.desiredState, undefined);
  const current = await devices().getRenderedDevice({ name: "r-1", knownRenderedVersion: "1" });
  assert.equal(current.device, undefined);
  const older = await devices().getRenderedDevice({ name: "r-1", knownRenderedVersion: "0" });
  assert.ok(older.device);
  await assert.rejects(
    devices().getRenderedDevice({ name: "r-1", knownRenderedVersion: "v1" }),
    code(Code.InvalidArgument, /knownRenderedVersion/),
  );
});

test("device actions: stop, start and restart change the rendered application, each with a new version and an event", async () => {
  await putDevice("a-1", { applications: apps });
  await drain();
  const v0 = (await rendered("a-1")).version;

  const d = await devices().stopDeviceApplication({ name: "a-1", appName: "web" });
  assert.equal(d.metadata?.name, "a-1");
  await drain();
  let r = await rendered("a-1");
  assert.equal(r.version, v0 + 1);
  assert.equal(appOf(r.spec, "web")?.desiredState, "stopped");
  assert.equal(appOf(r.spec, "quay.io/example/db:1")?.desiredState, undefined, "the other application is untouched");

  // Restart of a stopped application is refused: start it instead.
  await assert.rejects(
    devices().restartDeviceApplication({ name: "a-1", appName: "web" }),
    code(Code.FailedPrecondition, /"web".*stopped/),
  );

  await devices().startDeviceApplication({ name: "a-1", appName: "web" });
  await drain();
  r = await rendered("a-1");
  assert.equal(r.version, v0 + 2);
  assert.equal(appOf(r.spec, "web")?.desiredState, "running");

  // Restart by image name (an application without a name is addressed by its image); twice bumps twice.
  await devices().restartDeviceApplication({ name: "a-1", appName: "quay.io/example/db:1" });
  await devices().restartDeviceApplication({ name: "a-1", appName: "quay.io/example/db:1" });
  await drain();
  r = await rendered("a-1");
  assert.equal(appOf(r.spec, "quay.io/example/db:1")?.restartGeneration, 2);
  assert.equal(appOf(r.spec, "web")?.restartGeneration, undefined);

  const seen = await reasons("a-1");
  for (const reason of ["DeviceApplicationStopRequested", "DeviceApplicationStartRequested", "DeviceApplicationRestartRequested"])
    assert.ok(seen.includes(reason), `${reason} in ${seen.join(", ")}`);

  // The override is not part of the device's spec: a spec change keeps it (flightctl: it survives rollouts).
  await devices().stopDeviceApplication({ name: "a-1", appName: "web" });
  await putDevice("a-1", { applications: apps, os: { image: "quay.io/example/os:2" } });
  await drain();
  const spec = toJson(DeviceSchema, await devices().getDevice({ name: "a-1" })) as { spec: { applications: JsonObject[] } };
  assert.equal(spec.spec.applications[0].desiredState, undefined, "the stored spec never carries the override");
  r = await rendered("a-1");
  assert.equal(appOf(r.spec, "web")?.desiredState, "stopped");
  assert.equal((r.spec as { os?: { image: string } }).os?.image, "quay.io/example/os:2");
});

test("device actions: bad input is refused naming what is wrong", async () => {
  await putDevice("b-1", { applications: apps });
  await drain();
  await assert.rejects(devices().stopDeviceApplication({ name: "absent", appName: "web" }), code(Code.NotFound, /absent/));
  await assert.rejects(
    devices().stopDeviceApplication({ name: "b-1", appName: "nginx" }),
    code(Code.NotFound, /application "nginx" not found in device "b-1"; it has "web", "quay.io\/example\/db:1"/),
  );
  await assert.rejects(devices().startDeviceApplication({ name: "b-1", appName: "" }), code(Code.InvalidArgument, /appName/));
  // Nothing was recorded: the render is unchanged.
  await drain();
  assert.equal((await rendered("b-1")).version, 1);
});

test("fleet actions: apply to every member, to later members too; the more recent of device and fleet wins", async () => {
  const fleet = fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name: "shop" },
    spec: { selector: { matchLabels: { fleet: "shop" } }, template: { spec: { applications: apps } } },
  });
  await fleets().replaceFleet({ name: "shop", fleet });
  await putDevice("f-1", {}, { fleet: "shop" });
  await putDevice("f-2", {}, { fleet: "shop" });
  await drain();
  await drain();
  assert.ok(appOf((await rendered("f-1")).spec, "web"), "the template's application is rendered");

  await assert.rejects(
    fleets().stopFleetApplication({ name: "shop", appName: "nginx" }),
    code(Code.NotFound, /application "nginx" not found in the template of fleet "shop"/),
  );
  await assert.rejects(fleets().stopFleetApplication({ name: "nope", appName: "web" }), code(Code.NotFound));

  const f = await fleets().stopFleetApplication({ name: "shop", appName: "web" });
  assert.equal(f.metadata?.name, "shop");
  await drain();
  for (const n of ["f-1", "f-2"]) assert.equal(appOf((await rendered(n)).spec, "web")?.desiredState, "stopped", n);
  assert.ok((await reasons("shop")).includes("FleetApplicationStopRequested"));

  // A device's own start, issued later, wins over the fleet's stop on that device only.
  await devices().startDeviceApplication({ name: "f-1", appName: "web" });
  await drain();
  assert.equal(appOf((await rendered("f-1")).spec, "web")?.desiredState, "running");
  assert.equal(appOf((await rendered("f-2")).spec, "web")?.desiredState, "stopped");
  // Then the fleet's start-stop again, more recent, wins on every device.
  await fleets().stopFleetApplication({ name: "shop", appName: "web" });
  await drain();
  assert.equal(appOf((await rendered("f-1")).spec, "web")?.desiredState, "stopped");

  // A device that joins later inherits the fleet's default.
  await putDevice("f-3", {}, { fleet: "shop" });
  await drain();
  await drain();
  assert.equal(appOf((await rendered("f-3")).spec, "web")?.desiredState, "stopped");

  // A new template (a rollout) keeps the override.
  fleet.spec!.template!.spec!.applications[1].image = "quay.io/example/db:2";
  await fleets().replaceFleet({ name: "shop", fleet });
  await drain();
  await drain();
  const r = await rendered("f-2");
  assert.ok(appOf(r.spec, "quay.io/example/db:2"), "the new template rolled out");
  assert.equal(appOf(r.spec, "web")?.desiredState, "stopped");

  // A deleted and re-created fleet starts clean.
  await fleets().deleteFleet({ name: "shop" });
  fleet.spec!.selector!.matchLabels = { fleet: "none" };
  await fleets().replaceFleet({ name: "shop", fleet });
  const rows = await t.db.pool.query(`select 1 from app_overrides where owner_kind = 'Fleet' and owner_name = 'shop'`);
  assert.equal(rows.rowCount, 0);
});
