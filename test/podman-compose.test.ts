// compose applications on real podman (podman-compose, runc, a loopback OCI registry), through the agent's own
// application step with the real executor: an inline app of two containers comes up, desiredState and
// restartGeneration change what podman runs, an application image is pulled and unpacked, an update that replaces an
// image prunes the old one but not one a container uses, bad input is refused with the app and the cause while the
// previous version keeps running, and removal leaves no container, network or file.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pino } from "pino";
import type { ApplicationProviderSpecJson, DeviceSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { AppsRefused, ApplyError, appId, applyApps } from "../agent/apply.js";
import { appImages, pruneImages } from "../agent/apps/prune.js";
import { realExecutor, rootedFs, type HostFs } from "../agent/host.js";
import { startOciRegistry, type OciRegistry } from "./helpers/oci-registry.js";
import { startPodmanEnv, type PodmanEnv } from "./helpers/podman.js";
import { freePort } from "./helpers/ports.js";

let p: PodmanEnv;
let reg: OciRegistry;
let root: string;
let fs: HostFs;
const savedEnv = { ...process.env };
/** Registry images: two different busybox images and a compose application package. */
const img = { one: "", two: "", keep: "", pkg: "" };

before(async () => {
  reg = await startOciRegistry();
  p = await startPodmanEnv({ insecureRegistries: [reg.host] });
  // The real executor runs podman and podman-compose with this process's environment: this podman's, not the host's.
  Object.assign(process.env, p.env);
  root = mkdtempSync(join(tmpdir(), "fc-podman-compose-"));
  fs = rootedFs(root);
  img.one = `${reg.host}/apps/bb:1`;
  img.two = `${reg.host}/apps/bb:2`;
  img.keep = `${reg.host}/apps/keep:1`;
  img.pkg = `${reg.host}/apps/pkg:1`;
  await p.buildImage("localhost/bb:1");
  await p.buildImage("localhost/bb:2", { files: { "/version": "2\n" } });
  await p.buildImage("localhost/keep:1", { files: { "/keep": "yes\n" } });
  await p.buildImage("localhost/pkg:1", {
    files: {
      "/docker-compose.yaml": `services:\n  main:\n    image: ${img.one}\n    command: ${onTerm("sleep 100000")}\n  side:\n    image: ${img.one}\n    command: ${onTerm("sleep 100000")}\n`,
    },
  });
  for (const [local, target] of [
    ["localhost/bb:1", img.one],
    ["localhost/bb:2", img.two],
    ["localhost/keep:1", img.keep],
    ["localhost/pkg:1", img.pkg],
  ]) {
    await p.pushImage(local, target);
    // Only the registry has them: the agent pulls what it needs.
    await p.ok(["rmi", local, target]);
  }
});

after(async () => {
  await p?.close();
  await reg?.close();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  if (root) rmSync(root, { recursive: true, force: true });
});

interface Ctr {
  Id: string;
  Names: string[];
  State: string;
  Image: string;
  Labels: Record<string, string>;
}

/** The containers of compose project `id` as podman lists them, by service. */
async function project(id: string): Promise<Map<string, Ctr>> {
  const list = JSON.parse(await p.ok(["ps", "-a", "--filter", `label=com.docker.compose.project=${id}`, "--format", "json"])) as Ctr[];
  return new Map(list.map((c) => [c.Labels["com.docker.compose.service"], c]));
}
const states = async (id: string) => Object.fromEntries([...(await project(id))].map(([s, c]) => [s, c.State]));
const startedAt = async (name: string) => (await p.ok(["inspect", "--format", "{{.State.StartedAt}}", name])).trim();
const imageExists = async (ref: string) => (await p.run(["image", "exists", ref])).code === 0;
const httpOk = (port: number) =>
  fetch(`http://127.0.0.1:${port}/`).then(
    () => true,
    () => false,
  );

async function eventually(what: string, check: () => Promise<boolean>, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const apply = (from: DeviceSpecJson, to: DeviceSpecJson) => applyApps(fs, realExecutor, from, to);
const spec = (...apps: ApplicationProviderSpecJson[]): DeviceSpecJson => ({ applications: apps });
const composeApp = (name: string, yaml: string, extra: Partial<ApplicationProviderSpecJson> = {}): ApplicationProviderSpecJson => ({
  name,
  appType: "compose",
  inline: [{ path: "docker-compose.yaml", content: yaml }],
  ...extra,
});
/** busybox as PID 1 ignores SIGTERM (a stop would wait 10 s for its SIGKILL): the test services trap it. */
const onTerm = (cmd: string) => `["sh", "-c", "trap 'exit 0' TERM; ${cmd} & wait"]`;
const twoServices = (port: number, web = img.one, idle = img.one) =>
  `services:\n  web:\n    image: ${web}\n    command: ${onTerm(`httpd -f -p ${port}`)}\n    ports: ["${port}:${port}"]\n` +
  `  idle:\n    image: ${idle}\n    command: ${onTerm("sleep 100000")}\n`;

const web = appId("web");
let port: number;
let v1: DeviceSpecJson;

test("an inline compose app of two containers comes up on podman", async () => {
  port = await freePort();
  v1 = spec(composeApp("web", twoServices(port)));
  const s = await apply({}, v1);
  assert.deepEqual(s, [{ name: "web", appType: "compose", status: "Running" }]);
  assert.deepEqual(await states(web), { web: "running", idle: "running" });
  assert.ok(fs.exists(`/etc/compose/manifests/${web}/docker-compose.yaml`));
  await eventually("the web service to answer", () => httpOk(port));
});

test("desiredState and restartGeneration stop, start and restart what podman runs", async () => {
  const stopped = spec(composeApp("web", twoServices(port), { desiredState: "stopped" }));
  await apply(v1, stopped);
  assert.deepEqual(await states(web), { web: "exited", idle: "exited" });
  const ids = [...(await project(web)).values()].map((c) => c.Id).sort();

  const running = spec(composeApp("web", twoServices(port), { desiredState: "running" }));
  await apply(stopped, running);
  assert.deepEqual(await states(web), { web: "running", idle: "running" });
  // Started again, not recreated: an action rewrites nothing.
  assert.deepEqual([...(await project(web)).values()].map((c) => c.Id).sort(), ids);

  const name = (await project(web)).get("idle")!.Names[0];
  const t0 = await startedAt(name);
  const restarted = spec(composeApp("web", twoServices(port), { desiredState: "running", restartGeneration: 1 }));
  await apply(running, restarted);
  assert.deepEqual(await states(web), { web: "running", idle: "running" });
  assert.notEqual(await startedAt(name), t0, "the restart started the container again");
  v1 = restarted;
});

test("bad input is refused naming the app and the cause; the running version is untouched", async () => {
  const ids = async () => [...(await project(web)).values()].map((c) => `${c.Id} ${c.State}`).sort();
  const was = await ids();
  const cases: [string, DeviceSpecJson, RegExp][] = [
    [
      "a compose file that does not parse",
      spec(composeApp("web", "services:\n  web: [\n")),
      /^apps web: docker-compose\.yaml does not parse/,
    ],
    ["a compose file without services", spec(composeApp("web", "version: '3'\n")), /^apps web: the compose spec has no services/],
    [
      "an image that does not exist",
      spec(composeApp("web", twoServices(port, `${reg.host}/apps/nope:1`))),
      new RegExp(`^apps web: image ${reg.host}/apps/nope:1 cannot be pulled: .*(manifest unknown|not found)`),
    ],
    ["an invalid app name", spec(composeApp("bad name!", twoServices(port))), /^apps "bad name!": is not a valid application name/],
    [
      "an unsupported type",
      spec({ ...composeApp("web", twoServices(port)), appType: "helm" }),
      /^apps web: application type "helm" is not supported/,
    ],
  ];
  for (const [what, bad, message] of cases) {
    const e = await apply(v1, bad).then(
      () => assert.fail(`${what}: accepted`),
      (err: unknown) => err,
    );
    assert.ok(e instanceof AppsRefused, `${what}: ${String(e)}`);
    assert.match((e as Error).message, message, what);
    assert.deepEqual(await ids(), was, `${what}: the previous version runs on, untouched`);
  }
  assert.ok(await httpOk(port));
});

test("a port already taken fails the update with podman's cause; the rollback brings the previous version back", async () => {
  const taken = net.createServer();
  const busy = await freePort();
  await new Promise<void>((r) => taken.listen(busy, "0.0.0.0", r));
  try {
    const bad = spec(composeApp("web", twoServices(busy)));
    const e = await apply(v1, bad).then(
      () => assert.fail("accepted"),
      (err: unknown) => err,
    );
    assert.ok(e instanceof ApplyError && !(e instanceof AppsRefused), String(e));
    assert.match((e as Error).message, new RegExp(`^apps web: service web did not start: .*${busy}.*address already in use`));
    // What the agent does on an ApplyError: apply the previous spec over the failed one.
    await apply(bad, v1);
    assert.deepEqual(await states(web), { web: "running", idle: "running" });
    assert.equal((await project(web)).size, 2, "nothing of the failed version is left");
    await eventually("the previous version to answer", () => httpOk(port));
  } finally {
    await new Promise((r) => taken.close(r));
  }
});

test("an application image pulled from the registry is unpacked and run", async () => {
  const pkg: ApplicationProviderSpecJson = { name: "pkg", appType: "compose", image: img.pkg };
  const both = spec(...(v1.applications ?? []), pkg);
  await apply(v1, both);
  const id = appId("pkg");
  assert.deepEqual(await states(id), { main: "running", side: "running" });
  assert.match(String(fs.read(`/etc/compose/manifests/${id}/docker-compose.yaml`)), /services:/);
  assert.ok(await imageExists(img.pkg), "the package was pulled");
  // The other app was not touched by adding this one.
  assert.deepEqual(await states(web), { web: "running", idle: "running" });
  v1 = both;
});

test("an update that replaces an image prunes the old one, never one still in use", async () => {
  const log = pino({ level: "silent" });
  // v2: web runs bb:1 and keep:1; v3 replaces both with bb:2. keep:1 also runs in a container outside the app.
  const v2 = spec(composeApp("web", twoServices(port, img.one, img.keep)));
  await apply(v1, v2);
  assert.equal((await project(appId("pkg"))).size, 0, "the dropped package app is removed");
  await p.ok(["run", "-d", "--name", "outsider", img.keep]);
  const v3 = spec(composeApp("web", twoServices(port, img.two, img.two)));
  const before = appImages(fs, v2);
  assert.deepEqual(before.sort(), [img.keep, img.one].sort());
  await apply(v2, v3);
  assert.deepEqual(await states(web), { web: "running", idle: "running" });
  const removed = await pruneImages(realExecutor, log, before, appImages(fs, v3));
  assert.deepEqual(removed, [img.one]);
  assert.ok(!(await imageExists(img.one)), "the replaced image is gone");
  assert.ok(await imageExists(img.keep), "an image a container uses is kept");
  assert.ok(await imageExists(img.two), "the image the new version runs is kept");
  // The package image of the dropped app is pruned the same way.
  assert.deepEqual(await pruneImages(realExecutor, log, [img.pkg], appImages(fs, v3)), [img.pkg]);
  await p.ok(["rm", "-f", "-t", "0", "outsider"]);
  v1 = v3;
});

test("removal leaves no container, network or file of the app", async () => {
  await apply(v1, {});
  assert.equal((await project(web)).size, 0);
  const nets = await p.ok(["network", "ls", "--filter", `label=com.docker.compose.project=${web}`, "--format", "{{.Name}}"]);
  assert.equal(nets.trim(), "");
  assert.ok(!fs.exists(`/etc/compose/manifests/${web}`));
  assert.ok(!(await httpOk(port)));
});
