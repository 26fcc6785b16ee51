// Quadlet and container apps as files and commands (no podman): the layout, names and references flightctl gives an
// app's files, the unit names podman's generator makes of them, refusals naming the app and the file, the .container
// a container app amounts to, the choice of runner from the host, and what the systemd runner asks systemd to do.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { ApplicationProviderSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "../apply-error.js";
import { appId } from "../apply.js";
import { recordingExecutor, rootedFs } from "../host.js";
import { containerFiles, containerProvider } from "./container-provider.js";
import type { AppRef } from "./provider.js";
import { checkQuadletFiles, dropInDirsOf, namespaceApp, objectNameOf, QuadletFileError, unitNameOf } from "./quadlet-files.js";
import { QUADLET_GENERATORS, quadletRunner, SYSTEMD_RUNNING } from "./quadlet-install.js";
import { quadletProvider } from "./quadlet-provider.js";
import { parseUnit, splitWords } from "./unit-file.js";

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
/** A device root; `systemd` makes it look like a host with systemd running and podman's quadlet generator. */
function host(systemd: boolean) {
  const root = mkdtempSync(join(tmpdir(), "fc-quadlet-"));
  roots.push(root);
  const fs = rootedFs(root);
  if (systemd) {
    fs.mkdir(SYSTEMD_RUNNING);
    fs.write(QUADLET_GENERATORS[1], "#!/bin/sh\n", { mode: 0o755 });
  }
  return { fs, exec: recordingExecutor() };
}
const ref = (spec: ApplicationProviderSpecJson): AppRef => ({
  name: String(spec.name),
  id: appId(String(spec.name)),
  type: String(spec.appType),
  spec,
});
const file = (path: string, content: string) => ({ path, data: Buffer.from(content) });

test("unit names and object names follow podman's quadlet generator", () => {
  assert.equal(unitNameOf("web.container"), "web.service");
  assert.equal(unitNameOf("data.volume"), "data-volume.service");
  assert.equal(unitNameOf("net.network"), "net-network.service");
  assert.equal(unitNameOf("p.pod"), "p-pod.service");
  assert.equal(unitNameOf("p.pod", parseUnit("[Pod]\nServiceName=mypod\n", "p.pod")), "mypod.service");
  assert.equal(unitNameOf("k.kube"), "k.service");
  assert.equal(unitNameOf("i.image"), "i-image.service");
  assert.equal(objectNameOf("web.container", parseUnit("[Container]\nImage=x\n", "f")), "systemd-web");
  assert.equal(objectNameOf("web.container", parseUnit("[Container]\nContainerName=w\n", "f")), "w");
  assert.equal(objectNameOf("data.volume", parseUnit("[Volume]\n", "f")), "systemd-data");
  assert.deepEqual(dropInDirsOf("a-b.container"), ["a-b.container.d", "a-.container.d", "container.d"]);
  assert.deepEqual(splitWords(`a "b c" 'd e' f\\ g`), ["a", "b c", "d e", "f g"]);
});

test("an app's files are namespaced with its id, references rewritten, labelled and grouped by a target", () => {
  const checked = checkQuadletFiles([
    file(
      "web.container",
      "[Unit]\nAfter=db.service network-online.target\n[Container]\nImage=quay.io/x/web:1\nVolume=data.volume:/data:Z\nVolume=/srv:/srv\nVolume=cache:/cache\nNetwork=net.network\nLabel=io.flightctl.quadlet.project=someone-else\n",
    ),
    file("db.container", "[Container]\nImage=db.image\nContainerName=db\nNetwork=host\n"),
    file("data.volume", "[Volume]\nVolumeName=data\n"),
    file("net.network", "[Network]\n"),
    file("db.image", "[Image]\nImage=quay.io/x/db:1\n"),
    file("web.container.d/10-env.conf", "[Container]\nEnvironment=A=1\n"),
    file("container.d/20-all.conf", "[Container]\nVolume=data.volume:/all\n"),
  ]);
  const out = namespaceApp(checked, "app-1", "/etc/containers/systemd/app", true);
  const web = parseUnit(String(out.files.get("app-1-web.container")), "web");
  const c = (key: string) =>
    web.sections
      .find((s) => s.name === "Container")!
      .entries.filter(([k]) => k === key)
      .map(([, v]) => v);
  assert.deepEqual(c("Volume"), ["app-1-data.volume:/data:Z", "/srv:/srv", "app-1-cache:/cache"]);
  assert.deepEqual(c("Network"), ["app-1-net.network"]);
  assert.deepEqual(c("Label"), ["io.flightctl.quadlet.project=app-1"], "the project label is the agent's, once");
  assert.deepEqual(c("EnvironmentFile"), ["/etc/containers/systemd/app/.env"]);
  const unitSection = web.sections.find((s) => s.name === "Unit")!.entries;
  assert.deepEqual(unitSection, [
    ["After", "app-1-db.service network-online.target"],
    ["PartOf", "app-1-flightctl-quadlet-app.target"],
  ]);
  const db = String(out.files.get("app-1-db.container"));
  assert.match(db, /^Image=app-1-db\.image$/m);
  assert.match(db, /^ContainerName=app-1-db$/m);
  assert.match(db, /^Network=host$/m);
  assert.match(String(out.files.get("app-1-data.volume")), /^VolumeName=app-1-data$/m);
  assert.match(String(out.files.get("app-1-net.network")), /^Label=io.flightctl.quadlet.project=app-1$/m);
  assert.match(String(out.files.get("app-1-web.container.d/10-env.conf")), /Environment=A=1/);
  assert.match(String(out.files.get("app-1-.container.d/20-all.conf")), /Volume=app-1-data.volume:\/all/);
  assert.deepEqual(
    out.units.map((u) => u.unit),
    ["app-1-db-image.service", "app-1-net-network.service", "app-1-data-volume.service", "app-1-db.service", "app-1-web.service"],
  );
  const target = String(out.files.get("app-1-flightctl-quadlet-app.target"));
  for (const u of out.units) assert.match(target, new RegExp(`^Wants=${u.unit}$`, "m"));
});

test("bad quadlet files are refused naming the file and the cause", () => {
  const refuse = (files: { path: string; data: Buffer }[], re: RegExp) =>
    assert.throws(
      () => checkQuadletFiles(files),
      (e: Error) => e instanceof QuadletFileError && re.test(e.message),
    );
  refuse([file("my web.container", "[Container]\nImage=x\n")], /"my web.container" is not a valid unit name/);
  refuse([file("w@.container", "[Container]\nImage=x\n")], /template units/);
  refuse([file("sub/web.container", "[Container]\nImage=x\n")], /must be at the top/);
  refuse([file("../web.container", "[Container]\nImage=x\n")], /relative path inside/);
  refuse([file("web.build", "[Build]\n")], /\.build files are not supported/);
  refuse([file("data.volume", "[Volume]\n")], /no workload/);
  refuse([file("web.container", "[Volume]\n")], /"web.container" has no \[Container\] section/);
  refuse([file("web.container", "[Container]\nImage=x\n[Volume]\n")], /more than one quadlet section/);
  refuse([file("web.container", "Image=x\n")], /web.container line 1: "Image=x" is outside any \[Section\]/);
  refuse([file("README.md", "hi")], /no quadlet files/);
});

test("a container app is the .container flightctl generates: image, ports, env file, limits, volumes", async () => {
  const spec: ApplicationProviderSpecJson = {
    name: "api",
    appType: "container",
    image: "quay.io/x/api:2",
    ports: ["8080:80"],
    envVars: { LOG_LEVEL: "info" },
    resources: { limits: { cpu: "0.5", memory: "256m" } },
    volumes: [
      { name: "logs", mount: { path: "/logs" } },
      { name: "models", image: { reference: "quay.io/x/models:1" }, mount: { path: "/models:ro" } },
    ],
  };
  const files = containerFiles(ref(spec));
  assert.deepEqual(
    files.map((f) => f.path),
    ["models.volume", "app.container"],
  );
  const c = String(files[1].data);
  for (const line of [
    "Image=quay.io/x/api:2",
    "PodmanArgs=--cpus 0.5",
    "PodmanArgs=--memory 256m",
    "PublishPort=8080:80",
    "Volume=logs:/logs",
    "Volume=models.volume:/models:ro",
    "Restart=on-failure",
  ])
    assert.ok(c.split("\n").includes(line), `${line} in\n${c}`);
  assert.match(String(files[0].data), /Image=quay.io\/x\/models:1\nDriver=image/);

  const h = host(true);
  const app = ref(spec);
  await containerProvider.install(h, app);
  const dir = "/etc/containers/systemd/api";
  assert.deepEqual(h.fs.list(dir), [
    ".env",
    `${app.id}-app.container`,
    `${app.id}-flightctl-quadlet-app.target`,
    `${app.id}-models.volume`,
  ]);
  assert.equal(String(h.fs.read(`${dir}/.env`)), "LOG_LEVEL=info\n");
  const installed = String(h.fs.read(`${dir}/${app.id}-app.container`));
  assert.ok(installed.includes(`Volume=${app.id}-logs:/logs`) && installed.includes(`Volume=${app.id}-models.volume:/models:ro`));
  assert.ok(installed.includes(`EnvironmentFile=${dir}/.env`) && installed.includes(`Label=io.flightctl.quadlet.project=${app.id}`));
  assert.ok(h.fs.exists(`/etc/systemd/system/${app.id}-flightctl-quadlet-app.target`));

  const bad = (s: Partial<ApplicationProviderSpecJson>, re: RegExp) =>
    assert.throws(
      () => containerFiles(ref({ ...spec, ...s })),
      (e: Error) => e instanceof ApplyError && e.message.startsWith("apps api:") && re.test(e.message),
    );
  bad({ ports: ["80"] }, /ports: "80" must be hostPort:containerPort/);
  bad({ ports: ["70000:80"] }, /each 1-65535/);
  bad({ resources: { limits: { cpu: "-1" } } }, /resources.limits.cpu "-1"/);
  bad({ resources: { limits: { memory: "lots" } } }, /resources.limits.memory "lots"/);
  bad({ volumes: [{ name: "x", image: { reference: "i" } }] }, /volumes\[0\] \(x\): a container application's volume needs a mount path/);
  bad({ volumes: [{ name: "x", mount: { path: "rel" } }] }, /mount.path "rel" must be an absolute/);
  bad({ volumes: [{ name: "x", mount: { path: "/a" }, reclaimPolicy: "Delete" }] }, /reclaimPolicy "Delete"/);
  bad({ image: undefined }, /needs an image/);
});

test("the runner is chosen from the host: systemd with the generator, podman-direct otherwise", () => {
  assert.equal(quadletRunner(host(true)).kind, "systemd");
  assert.equal(quadletRunner(host(false)).kind, "podman");
  const half = host(false);
  half.fs.mkdir(SYSTEMD_RUNNING);
  assert.equal(quadletRunner(half).kind, "podman", "systemd without podman's generator cannot run quadlet files");
});

test("the systemd runner reloads systemd and starts, stops, restarts the generated units by their names", async () => {
  const h = host(true);
  const app = ref({
    name: "web",
    appType: "quadlet",
    inline: [
      { path: "web.container", content: "[Container]\nImage=quay.io/x/web:1\nVolume=data.volume:/data\n" },
      { path: "data.volume", content: "[Volume]\n" },
    ],
  });
  const id = app.id;
  const units = `${id}-data-volume.service ${id}-web.service`;
  const target = `${id}-flightctl-quadlet-app.target`;
  await quadletProvider.install(h, app);
  assert.deepEqual(h.exec.commands, ["podman image exists quay.io/x/web:1", "systemctl daemon-reload"]);
  assert.deepEqual(h.fs.list("/etc/containers/systemd/web"), [`${id}-data.volume`, target, `${id}-web.container`]);
  h.exec.commands.length = 0;
  await quadletProvider.start(h, app);
  await quadletProvider.stop(h, app);
  await quadletProvider.restart(h, app);
  assert.deepEqual(h.exec.commands, [
    `systemctl start ${units} ${target}`,
    `systemctl stop ${target} ${units}`,
    `systemctl reset-failed ${units}`,
    `systemctl restart ${units}`,
  ]);
  // An update stops the running version before its files change, then systemd re-reads them.
  h.exec.commands.length = 0;
  await quadletProvider.install(h, {
    ...app,
    spec: { ...app.spec, inline: [{ path: "web.container", content: "[Container]\nImage=quay.io/x/web:2\n" }] },
  });
  assert.deepEqual(h.exec.commands, [
    "podman image exists quay.io/x/web:2",
    `systemctl stop ${target} ${units}`,
    `systemctl reset-failed ${units}`,
    "systemctl daemon-reload",
  ]);
  // A start systemd refuses (the generator rejected a file) is an error naming the app.
  h.exec.failOn = /^systemctl start/;
  await assert.rejects(
    quadletProvider.start(h, app),
    (e: Error) =>
      e instanceof ApplyError && /^apps web: systemctl start failed \(1\): simulated failure.*quadlet generator refused/.test(e.message),
  );
  h.exec.failOn = undefined;
  h.exec.commands.length = 0;
  await quadletProvider.remove(h, app);
  assert.equal(h.exec.commands[0], `systemctl stop ${target} ${id}-web.service`);
  assert.ok(h.exec.commands.includes(`podman ps -a --filter label=io.flightctl.quadlet.project=${id} --format {{.Names}}`));
  assert.equal(h.exec.commands.at(-1), "systemctl daemon-reload");
  assert.ok(!h.fs.exists("/etc/containers/systemd/web") && !h.fs.exists(`/etc/systemd/system/${target}`));
});

test("runAs: a rootless app needs an existing user with lingering; its files go under the home", async () => {
  const h = host(true);
  const spec: ApplicationProviderSpecJson = {
    name: "r",
    appType: "quadlet",
    runAs: "app",
    inline: [{ path: "r.container", content: "[Container]\nImage=x\n" }],
  };
  await assert.rejects(quadletProvider.install(h, ref(spec)), /apps r: runAs user "app" does not exist/);
  h.fs.write("/etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n");
  await assert.rejects(quadletProvider.install(h, ref(spec)), /does not have lingering enabled/);
  h.fs.write("/var/lib/systemd/linger/app", "");
  const app = ref(spec);
  if (process.getuid?.() !== 0) return; // files are chowned to the user
  await quadletProvider.install(h, app);
  assert.ok(h.fs.exists(`/home/app/.config/containers/systemd/r/${app.id}-r.container`));
  assert.ok(h.fs.exists(`/home/app/.config/systemd/user/${app.id}-flightctl-quadlet-app.target`));
  h.exec.commands.length = 0;
  await quadletProvider.start(h, app);
  assert.deepEqual(h.exec.commands, [`systemctl --user -M app@ start ${app.id}-r.service ${app.id}-flightctl-quadlet-app.target`]);
  // On a host without the generator, rootless apps are refused clearly.
  const plain = host(false);
  plain.fs.write("/etc/passwd", "app:x:1000:1000::/home/app:/bin/sh\n");
  plain.fs.write("/var/lib/systemd/linger/app", "");
  await assert.rejects(
    quadletProvider.install(plain, app),
    /apps r: runAs app: rootless quadlet apps need systemd and podman's quadlet generator/,
  );
});

test("the podman-direct runner refuses what it cannot translate before anything changes on the host", async () => {
  const h = host(false);
  const app = (content: string, extra: { path: string; content: string }[] = []) =>
    ref({ name: "d", appType: "quadlet", inline: [{ path: "w.container", content }, ...extra] });
  const id = appId("d");
  const refused = (a: AppRef, re: RegExp) =>
    assert.rejects(quadletProvider.install(h, a), (e: Error) => e instanceof ApplyError && re.test(e.message));
  await refused(
    app("[Container]\nImage=x\nBogus=1\n"),
    new RegExp(`^apps d: quadlet file ${id}-w.container: key Bogus= of \\[Container\\] is not supported`),
  );
  await refused(app("[Container]\nImage=x\nVolume=%h/data:/data\n"), /Volume= of \[Container\] uses the systemd specifier %h/);
  await refused(
    app("[Container]\nImage=x\n", [{ path: "n.network", content: "[Network]\nFancy=1\n" }]),
    /n.network: key Fancy= of \[Network\]/,
  );
  await refused(app("[Container]\nImage=x\nVolume=other.volume:/o\n"), /volume .*other.volume is not a file of this application/);
  // Host paths: never the agent's own identity or state, never one that climbs out with "..".
  await refused(
    app("[Container]\nImage=x\nVolume=/etc/flightctl/certs:/c\n"),
    /host path \/etc\/flightctl\/certs: .*reserved for the agent/,
  );
  await refused(
    app("[Container]\nImage=x\nMount=type=bind,source=/var/lib/flightctl,target=/s\n"),
    /host path \/var\/lib\/flightctl: .*reserved/,
  );
  await refused(app("[Container]\nImage=x\nVolume=../../../../etc/flightctl/certs:/c\n"), /host path \.\.\/.*must not contain "\.\."/);
  await refused(
    app("[Container]\nImage=x\n", [{ path: "k.kube", content: "[Kube]\nYaml=k.yaml\n" }]),
    /k.kube: \[Kube\] units need systemd/,
  );
  assert.deepEqual(h.exec.commands, [], "nothing was pulled or run");
  assert.ok(!h.fs.exists("/etc/containers/systemd/d"), "nothing was written");
  // A literal percent (%%) is fine (systemd's escape, unescaped), as are drop-ins, merged as podman merges them.
  await quadletProvider.install(
    h,
    app("[Container]\nImage=x\nEnvironment=P=100%%\n", [{ path: "w.container.d/10-x.conf", content: "[Container]\nLabel=extra=1\n" }]),
  );
  await quadletProvider.start(h, app(""));
  const run = (h.exec.commands as string[]).find((c) => c.startsWith("podman run"));
  assert.equal(
    run,
    `podman run -d --replace --name systemd-${id}-w --env P=100% --label io.flightctl.quadlet.project=${id} --label extra=1 --pull never x`,
  );
});
