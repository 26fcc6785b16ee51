// The podman-direct quadlet runner: on hosts where systemd cannot run quadlet units (no systemd as PID 1, or a podman
// without the quadlet generator), the agent does what the generated units would do, with podman: a .network is
// `podman network create`, a .volume `podman volume create`, a .image `podman pull`, a .container `podman run -d`
// under the name quadlet gives it (systemd-<unit base name>, or ContainerName=). [Service] Restart= becomes podman's
// own restart policy, since no systemd restarts the container. Keys this runner does not translate are refused with
// the file and key named, rather than silently dropped; [Unit] and [Install] are systemd's and have no effect here.
import { posix } from "node:path";
import { ApplyError } from "../apply-error.js";
import { checkDevicePath, type PathError } from "../host.js";
import type { AppContext } from "./provider.js";
import { dropInDirsOf, extOf, objectNameOf, QUADLET_SECTIONS } from "./quadlet-files.js";
import type { QuadletApp, QuadletRunner } from "./quadlet-runner.js";
import { lastValue, mergeUnit, parseUnit, section, splitWords, type Unit } from "./unit-file.js";

class Unsupported extends Error {}

/** Where the runner reads an app's files: the installed directory, or the files about to be installed. */
interface FileSource {
  read(rel: string): Buffer | undefined;
  list(relDir: string): string[];
}

const installedFiles = (ctx: AppContext, app: QuadletApp): FileSource => ({
  read: (rel) => ctx.fs.read(posix.join(app.dir, rel)),
  list: (rel) => ctx.fs.list(posix.join(app.dir, rel)),
});

/** Files not yet written (path relative to the app directory → content). */
export function pendingFiles(files: Map<string, string | Buffer>): FileSource {
  return {
    read: (rel) => {
      const d = files.get(rel);
      return d === undefined ? undefined : Buffer.from(d);
    },
    list: (dir) => [...files.keys()].filter((k) => posix.dirname(k) === dir).map((k) => posix.basename(k)),
  };
}

/** The app's quadlet files with their drop-ins merged, by file name. */
function loadUnits(src: FileSource, app: QuadletApp): Map<string, Unit> {
  const units = new Map<string, Unit>();
  for (const { file } of app.units) {
    const data = src.read(file);
    if (!data) throw new ApplyError("apps", app.name, `quadlet file ${file} is missing from ${app.dir}`);
    const unit = parseUnit(data.toString("utf8"), file);
    // Drop-ins apply least specific first, each directory's files in name order; a name in a more specific
    // directory hides the same name in a less specific one.
    const seen = new Set<string>();
    const confs: { name: string; path: string }[] = [];
    for (const dir of dropInDirsOf(file)) {
      for (const name of src.list(dir)) {
        if (!name.endsWith(".conf") || seen.has(name)) continue;
        seen.add(name);
        confs.push({ name, path: posix.join(dir, name) });
      }
    }
    for (const c of confs.sort((a, b) => a.name.localeCompare(b.name)))
      mergeUnit(unit, parseUnit(src.read(c.path)?.toString("utf8") ?? "", c.path));
    units.set(file, unit);
  }
  return units;
}

/** How references between the app's files resolve to podman names. */
interface Names {
  volumes: Map<string, string>;
  networks: Map<string, string>;
  images: Map<string, string>;
  containers: Map<string, string>;
}

function namesOf(units: Map<string, Unit>): Names {
  const n: Names = { volumes: new Map(), networks: new Map(), images: new Map(), containers: new Map() };
  for (const [file, unit] of units) {
    const ext = extOf(file);
    if (ext === ".volume") n.volumes.set(file, objectNameOf(file, unit));
    if (ext === ".network") n.networks.set(file, objectNameOf(file, unit));
    if (ext === ".container") n.containers.set(file, objectNameOf(file, unit));
    if (ext === ".image") n.images.set(file, lastValue(unit, "Image", "ImageTag") ?? lastValue(unit, "Image", "Image") ?? "");
  }
  return n;
}

/** A device path in a unit (absolute, or relative to the unit's directory) as a path on this machine. */
/**
 * A host path a file binds into a container: relative ones from the app's directory. The agent's own identity, state
 * and configuration (and /proc, /sys, /dev) are never handed to an application, nor a path that climbs with "..".
 */
function hostPath(ctx: AppContext, app: QuadletApp, p: string): string {
  try {
    if (p.split("/").includes("..")) checkDevicePath(`/${p}`);
    return ctx.fs.real(checkDevicePath(p.startsWith("/") ? p : posix.join(app.dir, p)));
  } catch (e) {
    throw new Unsupported(`host path ${p}: ${(e as PathError).message}`);
  }
}

function resolve(map: Map<string, string>, ref: string, what: string): string {
  const name = map.get(ref);
  if (name === undefined) throw new Unsupported(`${what} ${ref} is not a file of this application`);
  return name;
}

function volumeArg(ctx: AppContext, app: QuadletApp, names: Names, v: string): string {
  const [src, ...rest] = v.split(":");
  if (rest.length === 0) return v;
  if (src.endsWith(".volume")) return [resolve(names.volumes, src, "volume"), ...rest].join(":");
  if (src.startsWith("/") || src.startsWith(".")) return [hostPath(ctx, app, src), ...rest].join(":");
  return v;
}

function mountArg(ctx: AppContext, app: QuadletApp, names: Names, v: string): string {
  const parts = v.split(",");
  const type = parts.find((p) => p.startsWith("type="))?.slice(5) ?? "volume";
  return parts
    .map((p) => {
      const eq = p.indexOf("=");
      const key = p.slice(0, Math.max(eq, 0));
      if (key !== "source" && key !== "src") return p;
      const val = p.slice(eq + 1);
      if (type === "volume" && val.endsWith(".volume")) return `${key}=${resolve(names.volumes, val, "volume")}`;
      if (type === "image" && val.endsWith(".image")) return `${key}=${resolve(names.images, val, "image")}`;
      if (type === "bind" || (type === "volume" && (val.startsWith("/") || val.startsWith("."))))
        return `${key}=${hostPath(ctx, app, val)}`;
      return p;
    })
    .join(",");
}

function networkArg(names: Names, v: string): string {
  const [name, ...rest] = v.split(":");
  if (name.endsWith(".network")) return [resolve(names.networks, name, "network"), ...rest].join(":");
  if (name === "container" && rest[0]?.endsWith(".container")) return `container:${resolve(names.containers, rest[0], "container")}`;
  return v;
}

/** Keys of [Container] and the podman run arguments each makes; missing keys are refused. */
type Translate = (v: string) => string[];
function containerKeys(ctx: AppContext, app: QuadletApp, names: Names): Record<string, Translate | null> {
  const flag = (f: string) => (v: string) => [f, v];
  const bool = (f: string) => (v: string) => (/^(true|yes|1|on)$/i.test(v) ? [f] : []);
  const words = (f: string) => (v: string) => splitWords(v).flatMap((w) => [f, w]);
  return {
    // Read separately: the image, the command, the name.
    Image: null,
    Exec: null,
    ContainerName: null,
    Entrypoint: flag("--entrypoint"),
    Environment: (v) => splitWords(v).flatMap((w) => ["--env", w]),
    EnvironmentFile: (v) => ["--env-file", hostPath(ctx, app, v)],
    EnvironmentHost: bool("--env-host"),
    PublishPort: flag("--publish"),
    ExposeHostPort: flag("--expose"),
    Volume: (v) => ["--volume", volumeArg(ctx, app, names, v)],
    Mount: (v) => ["--mount", mountArg(ctx, app, names, v)],
    Network: (v) => ["--network", networkArg(names, v)],
    Label: words("--label"),
    Annotation: words("--annotation"),
    User: flag("--user"),
    WorkingDir: flag("--workdir"),
    HostName: flag("--hostname"),
    ReadOnly: bool("--read-only"),
    RunInit: bool("--init"),
    AddCapability: words("--cap-add"),
    DropCapability: words("--cap-drop"),
    AddDevice: flag("--device"),
    Tmpfs: flag("--tmpfs"),
    ShmSize: flag("--shm-size"),
    PidsLimit: flag("--pids-limit"),
    Sysctl: words("--sysctl"),
    Ulimit: flag("--ulimit"),
    Timezone: flag("--tz"),
    IP: flag("--ip"),
    IP6: flag("--ip6"),
    DNS: flag("--dns"),
    LogDriver: flag("--log-driver"),
    StopTimeout: flag("--stop-timeout"),
    SecurityLabelDisable: (v) => (/^(true|yes|1|on)$/i.test(v) ? ["--security-opt", "label=disable"] : []),
    NoNewPrivileges: (v) => (/^(true|yes|1|on)$/i.test(v) ? ["--security-opt", "no-new-privileges"] : []),
    HealthCmd: flag("--health-cmd"),
    HealthInterval: flag("--health-interval"),
    HealthRetries: flag("--health-retries"),
    HealthTimeout: flag("--health-timeout"),
    HealthStartPeriod: flag("--health-start-period"),
    AutoUpdate: (v) => ["--label", `io.containers.autoupdate=${v}`],
    PodmanArgs: (v) => splitWords(v),
    // Only meaningful under systemd (sd_notify to the unit); nothing to do without it.
    Notify: () => [],
  };
}

/** systemd expands %h, %t, %N… in unit files (and %% to %); without systemd they would reach podman as literal text. */
function noSpecifier(group: string, key: string, value: string): void {
  const m = /%[A-Za-z]/.exec(value.replace(/%%/g, ""));
  if (m) throw new Unsupported(`${key}= of [${group}] uses the systemd specifier ${m[0]}, which the podman-direct runner cannot expand`);
}

/** systemd's Restart= as podman's --restart: without systemd, podman is what restarts a container that exits. */
function restartPolicy(unit: Unit): string[] {
  const r = lastValue(unit, "Service", "Restart");
  if (!r || r === "no") return [];
  if (r === "always") return ["--restart", "always"];
  return ["--restart", "on-failure"];
}

function runArgs(ctx: AppContext, app: QuadletApp, names: Names, file: string, unit: Unit): string[] {
  const keys = containerKeys(ctx, app, names);
  const name = names.containers.get(file) ?? objectNameOf(file, unit);
  let image = lastValue(unit, "Container", "Image");
  if (!image) throw new Unsupported("[Container] has no Image=");
  if (image.endsWith(".image")) image = resolve(names.images, image, "image");
  else if (image.endsWith(".build")) throw new Unsupported(`Image=${image}: .build files are not supported`);
  const args = ["run", "-d", "--replace", "--name", name, ...restartPolicy(unit)];
  for (const [k, v] of section(unit, "Container")?.entries ?? []) {
    if (!(k in keys)) throw new Unsupported(`key ${k}= of [Container] is not supported by the podman-direct runner`);
    noSpecifier("Container", k, v);
    const t = keys[k];
    if (t) args.push(...t(v.replace(/%%/g, "%")));
  }
  // The pull happened at install; a missing image is an error here, not a surprise download.
  args.push("--pull", "never", image);
  const exec = lastValue(unit, "Container", "Exec");
  if (exec) args.push(...splitWords(exec.replace(/%%/g, "%")));
  return args;
}

const VOLUME_KEYS: Record<string, (v: string) => string[]> = {
  VolumeName: () => [],
  Driver: (v) => ["--driver", v],
  Image: (v) => ["--opt", `image=${v}`],
  Label: (v) => splitWords(v).flatMap((w) => ["--label", w]),
  Options: (v) => ["--opt", `o=${v}`],
  Type: (v) => ["--opt", `type=${v}`],
  Device: (v) => ["--opt", `device=${v}`],
  User: (v) => ["--opt", `uid=${v}`],
  Group: (v) => ["--opt", `gid=${v}`],
  PodmanArgs: (v) => splitWords(v),
};

const NETWORK_KEYS: Record<string, (v: string) => string[]> = {
  NetworkName: () => [],
  Driver: (v) => ["--driver", v],
  Subnet: (v) => ["--subnet", v],
  Gateway: (v) => ["--gateway", v],
  IPRange: (v) => ["--ip-range", v],
  IPv6: (v) => (/^(true|yes|1|on)$/i.test(v) ? ["--ipv6"] : []),
  Internal: (v) => (/^(true|yes|1|on)$/i.test(v) ? ["--internal"] : []),
  DisableDNS: (v) => (/^(true|yes|1|on)$/i.test(v) ? ["--disable-dns"] : []),
  IPAMDriver: (v) => ["--ipam-driver", v],
  Label: (v) => splitWords(v).flatMap((w) => ["--label", w]),
  Options: (v) => ["--opt", v],
  PodmanArgs: (v) => splitWords(v),
};

function createArgs(unit: Unit, keys: Record<string, (v: string) => string[]>, group: string): string[] {
  const args: string[] = [];
  for (const [k, v] of section(unit, group)?.entries ?? []) {
    const t = keys[k];
    if (!t) throw new Unsupported(`key ${k}= of [${group}] is not supported by the podman-direct runner`);
    noSpecifier(group, k, v);
    args.push(...t(v.replace(/%%/g, "%")));
  }
  return args;
}

async function podman(ctx: AppContext, app: QuadletApp, file: string, args: string[]): Promise<string> {
  const r = await ctx.exec.run("podman", args);
  if (r.code !== 0)
    throw new ApplyError(
      "apps",
      app.name,
      `${file}: podman ${args.slice(0, 2).join(" ")} failed (${r.code}): ${(r.stderr || r.stdout).trim()}`,
    );
  return r.stdout;
}

/** Every step of a start, computed before anything runs so an unsupported key stops the app before it half-starts. */
function plan(
  ctx: AppContext,
  app: QuadletApp,
  src = installedFiles(ctx, app),
): { file: string; kind: string; args: string[]; name: string }[] {
  if (app.user)
    throw new ApplyError(
      "apps",
      app.name,
      `runAs ${app.user}: rootless quadlet apps need systemd and podman's quadlet generator, which this host lacks`,
    );
  const units = loadUnits(src, app);
  const names = namesOf(units);
  const steps: { file: string; kind: string; args: string[]; name: string }[] = [];
  for (const { file } of app.units) {
    const unit = units.get(file)!;
    try {
      switch (extOf(file)) {
        case ".image": {
          const image = names.images.get(file);
          if (!image) throw new Unsupported("[Image] has no Image=");
          for (const [k] of section(unit, "Image")?.entries ?? [])
            if (k !== "Image" && k !== "ImageTag")
              throw new Unsupported(`key ${k}= of [Image] is not supported by the podman-direct runner`);
          steps.push({ file, kind: "image", name: image, args: ["pull", image] });
          break;
        }
        case ".network": {
          const name = names.networks.get(file)!;
          steps.push({
            file,
            kind: "network",
            name,
            args: ["network", "create", ...createArgs(unit, NETWORK_KEYS, "Network"), name],
          });
          break;
        }
        case ".volume": {
          const name = names.volumes.get(file)!;
          let args = createArgs(unit, VOLUME_KEYS, "Volume");
          const image = lastValue(unit, "Volume", "Image");
          if (image?.endsWith(".image"))
            args = args.map((a) => (a === `image=${image}` ? `image=${resolve(names.images, image, "image")}` : a));
          steps.push({ file, kind: "volume", name, args: ["volume", "create", ...args, name] });
          break;
        }
        case ".container":
          steps.push({ file, kind: "container", name: names.containers.get(file)!, args: runArgs(ctx, app, names, file, unit) });
          break;
        default:
          throw new Unsupported(
            `[${QUADLET_SECTIONS[extOf(file)]}] units need systemd and podman's quadlet generator; the podman-direct runner runs .container, .volume, .network and .image files`,
          );
      }
    } catch (e) {
      if (e instanceof Unsupported) throw new ApplyError("apps", app.name, `quadlet file ${file}: ${e.message}`);
      throw e;
    }
  }
  return steps;
}

async function exists(ctx: AppContext, what: string, name: string): Promise<boolean> {
  return (await ctx.exec.run("podman", [what, "exists", name])).code === 0;
}

async function startSteps(ctx: AppContext, app: QuadletApp, only?: "container"): Promise<void> {
  for (const s of plan(ctx, app)) {
    if (only && s.kind !== only) continue;
    // Networks and volumes are made once and kept, as quadlet's oneshot units do (`create --ignore`).
    if (s.kind === "network" && (await exists(ctx, "network", s.name))) continue;
    if (s.kind === "volume" && (await exists(ctx, "volume", s.name))) continue;
    if (s.kind === "image" && (await exists(ctx, "image", s.name))) continue;
    await podman(ctx, app, s.file, s.args);
  }
}

async function stopContainers(ctx: AppContext, app: QuadletApp): Promise<void> {
  const units = loadUnits(installedFiles(ctx, app), app);
  const names = [...namesOf(units).containers.values()];
  // Quadlet's ExecStop removes the container (podman rm -v -f -i, within its StopTimeout=); the next start creates it
  // again.
  for (const name of names.reverse()) await podman(ctx, app, name, ["rm", "-v", "-f", "-i", name]);
}

export const podmanDirectRunner: QuadletRunner = {
  kind: "podman",
  // An unsupported key is found before the files are written, so the running version is left alone.
  check(ctx, app, files) {
    plan(ctx, app, pendingFiles(files));
  },
  // No generator to re-run.
  reload: async () => undefined,
  start: (ctx, app) => startSteps(ctx, app),
  stop: (ctx, app) => stopContainers(ctx, app),
  async restart(ctx, app) {
    plan(ctx, app);
    await stopContainers(ctx, app);
    await startSteps(ctx, app, "container");
  },
};
