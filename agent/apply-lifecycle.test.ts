// The agent honours the service's application actions through its executor: desiredState "stopped" stops the
// application (a new one is written but never started), "running" after a stop starts it again, a new
// restartGeneration restarts it, and a change of only those fields rewrites and pulls nothing.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ApplicationProviderSpecJson, DeviceSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { AppsRefused, appId, applyApps } from "./apply.js";
import { recordingExecutor, rootedFs } from "./host.js";

const root = mkdtempSync(join(tmpdir(), "fc-apply-lifecycle-"));
after(() => rmSync(root, { recursive: true, force: true }));
const fs = rootedFs(root);

const compose: ApplicationProviderSpecJson = {
  name: "web",
  appType: "compose",
  inline: [{ path: "docker-compose.yaml", content: "services: {web: {image: quay.io/example/web:1}}\n" }],
};
const container: ApplicationProviderSpecJson = { name: "db", appType: "container", image: "quay.io/example/db:1" };
const spec = (...apps: ApplicationProviderSpecJson[]): DeviceSpecJson => ({ applications: apps });
const web = appId("web");
const db = appId("db");
// The container app on a host without systemd (this test's root has no /run/systemd/system): run by podman directly,
// under the name quadlet would give its container.
const runDb = `podman run -d --replace --name systemd-${db}-app`;
const stopDb = `podman rm -v -f -i systemd-${db}-app`;

/** The commands one apply runs (from `from` to `to`) and the states it reports. */
async function step(from: DeviceSpecJson, to: DeviceSpecJson) {
  const exec = recordingExecutor();
  const states = await applyApps(fs, exec, from, to);
  return { commands: exec.commands, states: Object.fromEntries(states.map((s) => [s.name, s.status])) };
}

test("stop, start and restart act on what runs; content is untouched", async () => {
  const v1 = spec(compose, container);
  let r = await step({}, v1);
  assert.ok(r.commands.some((c) => c.startsWith(`podman-compose -p ${web} -f`) && c.endsWith(" up -d")));
  assert.ok(
    r.commands.some((c) => c.startsWith(runDb)),
    r.commands.join("\n"),
  );
  assert.deepEqual(r.states, { web: "Running", db: "Running" });

  const v2 = spec({ ...compose, desiredState: "stopped" }, { ...container, desiredState: "stopped" });
  r = await step(v1, v2);
  // What acts (podman ps only reads back that the stop took).
  const acts = r.commands.filter((c) => !c.startsWith("podman ps "));
  assert.equal(acts.length, 2, r.commands.join("\n"));
  assert.match(acts[0], new RegExp(`^podman-compose -p ${web} -f \\S+docker-compose.yaml stop$`));
  assert.equal(acts[1], stopDb);
  assert.deepEqual(r.states, { web: "Stopped", db: "Stopped" });

  // Still stopped: nothing runs again.
  assert.deepEqual((await step(v2, v2)).commands, []);

  const v3 = spec({ ...compose, desiredState: "running" }, { ...container, desiredState: "running" });
  r = await step(v2, v3);
  assert.ok(r.commands.some((c) => c.endsWith(" up -d")));
  assert.ok(
    r.commands.some((c) => c.startsWith(runDb)),
    r.commands.join("\n"),
  );
  assert.ok(!r.commands.some((c) => c.startsWith("podman pull")), "an action pulls nothing");

  const v4 = spec({ ...compose, desiredState: "running", restartGeneration: 1 }, { ...container, desiredState: "running" });
  r = await step(v3, v4);
  assert.equal(r.commands.length, 1, r.commands.join("\n"));
  assert.match(r.commands[0], new RegExp(`^podman-compose -p ${web} -f \\S+ restart$`));
});

test("a new application that is stopped is written but not started", async () => {
  const r = await step({}, spec({ ...compose, name: "idle", desiredState: "stopped" }));
  const id = appId("idle");
  assert.ok(fs.exists(`/etc/compose/manifests/${id}/docker-compose.yaml`));
  assert.ok(!r.commands.some((c) => c.endsWith(" up -d")), r.commands.join("\n"));
  assert.deepEqual(r.states, { idle: "Stopped" });
});

test("an app that fails its check refuses the whole update before anything on the host changes", async () => {
  const v1 = spec(compose, container);
  await step({}, v1);
  const file = `/etc/compose/manifests/${web}/docker-compose.yaml`;
  const was = fs.read(file);
  const changed = { ...compose, inline: [{ path: "docker-compose.yaml", content: "services: {web: {image: quay.io/example/web:2}}\n" }] };
  const broken = { name: "broken", appType: "compose", inline: [{ path: "docker-compose.yaml", content: "services: {web: [\n" }] };
  const exec = recordingExecutor();
  await assert.rejects(applyApps(fs, exec, v1, spec(changed, broken)), (e: unknown) => {
    assert.ok(e instanceof AppsRefused);
    assert.match(e.message, /^apps broken: docker-compose\.yaml does not parse/);
    return true;
  });
  // Only the checks' image queries ran: nothing stopped, removed, written or started.
  assert.ok(
    exec.commands.every((c) => /^podman (image exists|pull) /.test(c)),
    exec.commands.join("\n"),
  );
  assert.deepEqual(fs.read(file), was);
  assert.ok(!fs.exists(`/etc/compose/manifests/${appId("broken")}`));
});
