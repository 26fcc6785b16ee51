// Quadlet and container apps on real podman. This host has no systemd as PID 1 and podman 4.3 has no quadlet
// generator, so the providers pick the podman-direct runner here: the tests check that what the installed files
// describe really runs (names, labels, volumes, env, ports, limits), that stop/start/restart/remove change what podman
// runs, that an image-packaged app is pulled from a registry and unpacked, and that bad files are refused with the
// previous version left running. The systemd runner's commands are checked in agent/apps/quadlet.test.ts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { ApplicationProviderSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "../agent/apply-error.js";
import { appId } from "../agent/apply.js";
import { containerProvider } from "../agent/apps/container-provider.js";
import { QUADLET_PROJECT_LABEL } from "../agent/apps/labels.js";
import type { AppContext, AppRef } from "../agent/apps/provider.js";
import { quadletRunner } from "../agent/apps/quadlet-install.js";
import { quadletProvider } from "../agent/apps/quadlet-provider.js";
import { realExecutor, rootedFs } from "../agent/host.js";
import { type OciRegistry, startOciRegistry } from "./helpers/oci-registry.js";
import { type PodmanEnv, startPodmanEnv } from "./helpers/podman.js";
import { freePort } from "./helpers/ports.js";

let reg: OciRegistry;
let p: PodmanEnv;
let ctx: AppContext;
let root: string;
/** busybox with a seed file and a web page, in the registry. */
let BB: string;
/** busybox httpd serving /www on port 80, in the registry. */
let WEB: string;
/** A quadlet application package: only quadlet files at its root. */
let PKG: string;

const ref = (spec: ApplicationProviderSpecJson): AppRef => ({
  name: String(spec.name),
  id: appId(String(spec.name)),
  type: String(spec.appType),
  spec,
});
const lines = (s: string) => s.split("\n").filter(Boolean);
const labelled = (id: string) => `label=${QUADLET_PROJECT_LABEL}=${id}`;
const running = async (id: string) => lines(await p.ok(["ps", "--filter", labelled(id), "--format", "{{.Names}}"])).sort();
const allContainers = async (id: string) => lines(await p.ok(["ps", "-a", "--filter", labelled(id), "--format", "{{.Names}}"]));
const volumes = async () => lines(await p.ok(["volume", "ls", "--format", "{{.Name}}"]));
const inspect = async (name: string, fmt: string) => (await p.ok(["inspect", "--format", fmt, name])).trim();

before(async () => {
  reg = await startOciRegistry();
  p = await startPodmanEnv({ insecureRegistries: [reg.host] });
  // The agent's real executor inherits this process's environment: podman here uses the test's config and storage.
  Object.assign(process.env, p.env);
  root = mkdtempSync(join(tmpdir(), "fc-podman-quadlet-"));
  ctx = { fs: rootedFs(root), exec: realExecutor };
  await p.buildImage("localhost/bb:1", { files: { "/data/seed.txt": "seed\n" } });
  BB = `${reg.host}/test/bb:1`;
  await p.pushImage("localhost/bb:1", BB);
  await p.buildImage("localhost/web:1", {
    files: { "/www/index.html": "hello from a container app\n" },
    cmd: ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
  });
  WEB = `${reg.host}/test/web:1`;
  await p.pushImage("localhost/web:1", WEB);
  // A package holds the app's files at its root and nothing else (no busybox): made from a tar of just those.
  const pkg = join(root, "..", `${root.split("/").at(-1)}-pkg`);
  mkdirSync(pkg);
  writeFileSync(
    join(pkg, "app.container"),
    `[Container]\nImage=${BB}\nVolume=assets:/assets:ro\nVolume=cache.volume:/cache\nStopTimeout=1\nExec=/bin/sleep 100000\n`,
  );
  writeFileSync(join(pkg, "cache.volume"), "[Volume]\n");
  execFileSync("tar", ["-C", pkg, "-cf", `${pkg}.tar`, "."]);
  PKG = `${reg.host}/test/qapp:1`;
  await p.ok(["import", "-q", `${pkg}.tar`, "localhost/qapp:1"]);
  await p.pushImage("localhost/qapp:1", PKG);
  rmSync(pkg, { recursive: true, force: true });
  rmSync(`${pkg}.tar`, { force: true });
  // The apps pull what they need from the registry.
  await p.ok(["rmi", BB, WEB, PKG]);
});

after(async () => {
  await p?.run(["volume", "rm", "-af"]);
  await p?.run(["network", "prune", "-f"]);
  await p?.close();
  await reg?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

test("this host runs quadlet apps with podman directly (no systemd, no quadlet generator)", () => {
  assert.equal(quadletRunner(ctx).kind, "podman");
});

test("an inline quadlet app (.container, .volume, .network) runs; stop, start, restart and remove change what podman runs", async () => {
  const app = ref({
    name: "notes",
    appType: "quadlet",
    envVars: { GREETING: "hello" },
    inline: [
      {
        path: "web.container",
        content: `[Unit]\nDescription=notes\n\n[Container]\nImage=${BB}\nVolume=data.volume:/data\nNetwork=net.network\nStopTimeout=1\nExec=/bin/sh -c "echo up > /data/state; exec sleep 100000"\n\n[Service]\nRestart=always\n`,
      },
      { path: "data.volume", content: "[Volume]\nLabel=tier=data\n" },
      { path: "net.network", content: "[Network]\nInternal=true\n" },
    ],
  });
  const id = app.id;
  const name = `systemd-${id}-web`;
  await quadletProvider.install(ctx, app);
  assert.ok(ctx.fs.exists(`/etc/containers/systemd/notes/${id}-web.container`));
  assert.ok(ctx.fs.exists(`/etc/systemd/system/${id}-flightctl-quadlet-app.target`));
  assert.deepEqual(await running(id), [], "install starts nothing");

  await quadletProvider.start(ctx, app);
  assert.deepEqual(await running(id), [name]);
  assert.equal(await inspect(name, `{{index .Config.Labels "${QUADLET_PROJECT_LABEL}"}}`), id);
  assert.equal(await inspect(name, "{{.HostConfig.RestartPolicy.Name}}"), "always");
  assert.ok(
    (await p.ok(["exec", name, "env"])).split("\n").includes("GREETING=hello"),
    "envVars reach the container through the app's .env",
  );
  const vols = lines(await p.ok(["volume", "ls", "--filter", labelled(id), "--format", "{{.Name}}"]));
  assert.deepEqual(vols, [`systemd-${id}-data`]);
  assert.equal(await p.ok(["volume", "inspect", "--format", '{{index .Labels "tier"}}', vols[0]]).then((s) => s.trim()), "data");
  assert.equal((await p.ok(["exec", name, "cat", "/data/state"])).trim(), "up");
  assert.deepEqual(lines(await p.ok(["network", "ls", "--filter", labelled(id), "--format", "{{.Name}}"])), [`systemd-${id}-net`]);
  assert.equal(await inspect(`systemd-${id}-net`, "{{.Internal}}"), "true");
  assert.match(await inspect(name, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"), new RegExp(`systemd-${id}-net`));

  await quadletProvider.stop(ctx, app);
  assert.deepEqual(await allContainers(id), [], "a stopped quadlet container is removed, as its unit's ExecStop does");
  assert.ok((await volumes()).includes(`systemd-${id}-data`), "volumes outlive a stop");

  await quadletProvider.start(ctx, app);
  assert.deepEqual(await running(id), [name]);
  const before = await inspect(name, "{{.Id}}");
  await quadletProvider.restart(ctx, app);
  assert.deepEqual(await running(id), [name]);
  assert.notEqual(await inspect(name, "{{.Id}}"), before, "restart recreates the container, as restarting its unit does");

  await quadletProvider.remove(ctx, app);
  assert.deepEqual(await allContainers(id), []);
  assert.ok(!ctx.fs.exists("/etc/containers/systemd/notes") && !ctx.fs.exists(`/etc/systemd/system/${id}-flightctl-quadlet-app.target`));
  assert.ok((await volumes()).includes(`systemd-${id}-data`), "a named volume is retained (reclaim policy Retain)");
  assert.deepEqual(
    lines(await p.ok(["network", "ls", "--filter", labelled(id), "--format", "{{.Name}}"])),
    [],
    "the app's network is removed",
  );
});

test("a container app: reachable on its port, with its env, limits and volumes; removal keeps named volumes only", async () => {
  const port = await freePort();
  const app = ref({
    name: "site",
    appType: "container",
    image: WEB,
    ports: [`${port}:80`],
    envVars: { LOG_LEVEL: "debug" },
    resources: { limits: { cpu: "0.5", memory: "64m" } },
    volumes: [
      { name: "logs", mount: { path: "/logs" } },
      { name: "models", image: { reference: BB }, mount: { path: "/models:ro" } },
    ],
  });
  const id = app.id;
  const name = `systemd-${id}-app`;
  await containerProvider.install(ctx, app);
  await containerProvider.start(ctx, app);
  assert.deepEqual(await running(id), [name]);
  let body = "";
  for (let i = 0; i < 50 && !body; i++) {
    body = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.text(),
      () => "",
    );
    if (!body) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(body, "hello from a container app\n");
  assert.ok((await inspect(name, "{{json .Config.Env}}")).includes('"LOG_LEVEL=debug"'));
  assert.equal(await inspect(name, "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}"), `500000000 ${64 * 1024 * 1024}`);
  assert.equal(await inspect(name, "{{.HostConfig.RestartPolicy.Name}}"), "on-failure");
  assert.equal(
    (await p.ok(["exec", name, "cat", "/models/data/seed.txt"])).trim(),
    "seed",
    "the image-mount volume holds the image's files",
  );
  await p.ok(["exec", name, "sh", "-c", "echo kept > /logs/l"]);
  const vols = await volumes();
  assert.ok(vols.includes(`${id}-logs`) && vols.includes(`systemd-${id}-models`), vols.join(","));

  await containerProvider.stop(ctx, app);
  assert.deepEqual(await allContainers(id), []);
  await containerProvider.start(ctx, app);
  assert.equal((await p.ok(["exec", name, "cat", "/logs/l"])).trim(), "kept", "a named volume keeps its data across stop/start");

  await containerProvider.remove(ctx, app);
  assert.deepEqual(await allContainers(id), []);
  const left = await volumes();
  assert.ok(left.includes(`${id}-logs`), "the named volume is retained");
  assert.ok(!left.includes(`systemd-${id}-models`), "the image-backed volume holds no data and is removed");
  assert.ok(!ctx.fs.exists("/etc/containers/systemd/site"));
});

test("an image-packaged quadlet app is pulled from the registry, unpacked and run, with an image volume of the spec", async () => {
  const app = ref({ name: "packaged", appType: "quadlet", image: PKG, volumes: [{ name: "assets", image: { reference: BB } }] });
  const id = app.id;
  await quadletProvider.install(ctx, app);
  assert.deepEqual(ctx.fs.list("/etc/containers/systemd/packaged"), [
    `${id}-app.container`,
    `${id}-cache.volume`,
    `${id}-flightctl-quadlet-app.target`,
  ]);
  assert.ok(!ctx.fs.exists(`/var/lib/flightctl/apps-staging/${id}`), "the unpacked package is cleaned up");
  await quadletProvider.start(ctx, app);
  const name = `systemd-${id}-app`;
  assert.deepEqual(await running(id), [name]);
  assert.equal((await p.ok(["exec", name, "cat", "/assets/data/seed.txt"])).trim(), "seed");
  assert.ok((await volumes()).includes(`systemd-${id}-cache`));
  await quadletProvider.remove(ctx, app);
  assert.deepEqual(await allContainers(id), []);
  assert.ok(!(await volumes()).includes(`${id}-assets`), "the spec's image volume is removed with the app");
});

test("bad files are refused naming the app and the file; the running version keeps running", async () => {
  const spec = (content: string, path = "web.container"): ApplicationProviderSpecJson => ({
    name: "guarded",
    appType: "quadlet",
    inline: [{ path, content }],
  });
  const good = ref(spec(`[Container]\nImage=${BB}\nStopTimeout=1\nExec=/bin/sleep 100000\n`));
  const id = good.id;
  const refused = async (s: ApplicationProviderSpecJson, re: RegExp) => {
    await assert.rejects(
      quadletProvider.install(ctx, ref(s)),
      (e: Error) => e instanceof ApplyError && e.message.startsWith("apps guarded: ") && re.test(e.message),
    );
  };
  await refused(spec(`[Container]\nImage=${BB}\n`, "web app.container"), /quadlet file "web app.container" is not a valid unit name/);
  assert.ok(!ctx.fs.exists("/etc/containers/systemd/guarded"), "nothing is written for a refused app");

  await quadletProvider.install(ctx, good);
  await quadletProvider.start(ctx, good);
  const name = `systemd-${id}-web`;
  const started = await inspect(name, "{{.Id}}");
  const installed = String(ctx.fs.read(`/etc/containers/systemd/guarded/${id}-web.container`));

  await refused(
    spec(`[Container]\nImage=${BB}\nFancyKey=1\n`),
    new RegExp(`quadlet file ${id}-web.container: key FancyKey= of \\[Container\\] is not supported`),
  );
  const withPod: ApplicationProviderSpecJson = {
    ...spec(""),
    inline: [
      { path: "web.container", content: `[Container]\nImage=${BB}\nPod=p.pod\n` },
      { path: "p.pod", content: "[Pod]\n" },
    ],
  };
  await refused(withPod, new RegExp(`quadlet file ${id}-p.pod: \\[Pod\\] units need systemd and podman's quadlet generator`));
  await refused(spec(`[Container]\nImage=${reg.host}/test/missing:1\n`), /cannot pull image .*missing:1/);
  await refused(spec("[Volume]\n", "data.volume"), /no workload/);
  assert.equal(await inspect(name, "{{.Id}}"), started, "the running container was not touched");
  assert.equal(
    String(ctx.fs.read(`/etc/containers/systemd/guarded/${id}-web.container`)),
    installed,
    "the installed files were not touched",
  );
  await quadletProvider.remove(ctx, good);
  assert.deepEqual(await allContainers(id), []);
});
