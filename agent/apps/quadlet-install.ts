// Putting a quadlet app's files in place and taking them away, shared by the quadlet and container providers: check
// the files, namespace them for the app (quadlet-files.ts), write the app's .env, pull the images they name, write
// the app directory and the target, and let the runner pick the change up. A failure before the runner accepted the
// new files puts the previous ones back, so a bad version leaves the running one as it was.
import { posix } from "node:path";
import { ApplyError } from "../apply-error.js";
import { QUADLET_PROJECT_LABEL } from "./labels.js";
import type { AppContext, AppProvider, AppRef } from "./provider.js";
import {
  type AppFile,
  checkQuadletFiles,
  ENV_FILE,
  extOf,
  installedUnits,
  QUADLET_ROOT,
  QuadletFileError,
  SYSTEMD_UNIT_DIR,
  targetName,
  namespaceApp,
} from "./quadlet-files.js";
import { podmanDirectRunner } from "./quadlet-podman.js";
import { type QuadletApp, type QuadletRunner, systemdRunner } from "./quadlet-runner.js";
import { lastValue, parseUnit } from "./unit-file.js";
import { appVolumes, ensureImageVolumes, pullImage, removeEphemeralVolumes } from "./volumes.js";

/** systemd runs generators when this exists; podman's quadlet is installed as one of them. */
export const SYSTEMD_RUNNING = "/run/systemd/system";
export const QUADLET_GENERATORS = ["/usr/lib/systemd/system-generators/podman-system-generator", "/usr/libexec/podman/quadlet"];

/** systemd when it runs and podman's quadlet generator is installed; podman-direct otherwise (read from the host). */
export function quadletRunner(ctx: AppContext): QuadletRunner {
  const systemd = ctx.fs.exists(SYSTEMD_RUNNING);
  const generator = QUADLET_GENERATORS.some((p) => ctx.fs.exists(p));
  return systemd && generator ? systemdRunner : podmanDirectRunner;
}

interface RunAs {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * runAs of the spec. Root (or none) runs in the system's podman and systemd; another user in that user's, which needs
 * the user, a home directory, and lingering (flightctl's checks), read from the host's /etc/passwd and linger dir.
 */
function runAs(ctx: AppContext, app: AppRef): RunAs | undefined {
  const user = app.spec.runAs;
  if (!user || user === "root") return undefined;
  const line = (ctx.fs.read("/etc/passwd")?.toString("utf8") ?? "").split("\n").find((l) => l.split(":")[0] === user);
  if (!line) throw new ApplyError("apps", app.name, `runAs user "${user}" does not exist on the device`);
  const [, , uid, gid, , home] = line.split(":");
  if (!home || home === "/") throw new ApplyError("apps", app.name, `runAs user "${user}" has no home directory`);
  if (!ctx.fs.exists(`/var/lib/systemd/linger/${user}`))
    throw new ApplyError(
      "apps",
      app.name,
      `runAs user "${user}" runs rootless quadlets but does not have lingering enabled (loginctl enable-linger ${user})`,
    );
  return { user, uid: Number(uid), gid: Number(gid), home };
}

/** Device directory of the app's files: flightctl's /etc/containers/systemd/<app name> (rootless: under the home). */
function appDirOf(app: AppRef, as: RunAs | undefined): string {
  const name = app.name;
  if (!name || name.startsWith("/") || name.split("/").some((p) => p === ".." || p === "."))
    throw new ApplyError("apps", app.name, `name "${name}" cannot be used as the application's directory`);
  return posix.join(as ? `${as.home}/.config/containers/systemd` : QUADLET_ROOT, name);
}

const targetDirOf = (as: RunAs | undefined) => (as ? `${as.home}/.config/systemd/user` : SYSTEMD_UNIT_DIR);

/** The app's .env (flightctl writes envVars there; containers read it through EnvironmentFile=). */
function envFile(app: AppRef): string | undefined {
  const vars = Object.entries(app.spec.envVars ?? {});
  if (vars.length === 0) return undefined;
  for (const [k, v] of vars) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new ApplyError("apps", app.name, `envVars: "${k}" is not a valid variable name`);
    if (/[\n\r]/.test(v)) throw new ApplyError("apps", app.name, `envVars: the value of ${k} must be one line`);
  }
  return vars.map(([k, v]) => `${k}=${v}\n`).join("");
}

/** Every file under device directory `dir`, relative to it (application packages may carry drop-in directories). */
export function readTree(ctx: AppContext, dir: string, prefix = ""): AppFile[] {
  const out: AppFile[] = [];
  for (const name of ctx.fs.list(posix.join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const path = posix.join(dir, rel);
    if (ctx.fs.list(path).length > 0) {
      out.push(...readTree(ctx, dir, rel));
      continue;
    }
    try {
      const data = ctx.fs.read(path);
      if (data) out.push({ path: rel, data });
    } catch {
      // An empty directory: nothing to install.
    }
  }
  return out;
}

/** The images the files name (not references to the app's own .image files), pulled at install as flightctl prefetches them. */
function imagesOf(files: Map<string, string | Buffer>): string[] {
  const images = new Set<string>();
  for (const [file, content] of files) {
    const group = { ".container": "Container", ".volume": "Volume", ".image": "Image" }[extOf(file)];
    if (!group || file.includes("/")) continue;
    const image = lastValue(parseUnit(content.toString(), file), group, "Image");
    if (image && !image.endsWith(".image") && !image.endsWith(".build")) images.add(image);
  }
  return [...images];
}

/** The installed app as the runners see it; undefined when its directory has no quadlet files. */
export function installedApp(ctx: AppContext, app: AppRef): QuadletApp | undefined {
  const as = runAs(ctx, app);
  const dir = appDirOf(app, as);
  const names = ctx.fs.list(dir);
  const units = installedUnits(names, (f) => parseUnit(ctx.fs.read(posix.join(dir, f))?.toString("utf8") ?? "", f));
  if (units.length === 0) return undefined;
  return { name: app.name, id: app.id, dir, units, target: targetName(app.id), user: as?.user };
}

/** Installs `files` as app `app`'s quadlet files. Throws ApplyError naming the app and the file at fault. */
export async function installQuadletApp(ctx: AppContext, app: AppRef, files: AppFile[]): Promise<QuadletApp> {
  const as = runAs(ctx, app);
  const dir = appDirOf(app, as);
  // The spec's envVars make the .env; without them, one shipped with the app's files is used as it is (flightctl).
  const env = envFile(app) ?? files.find((f) => f.path === ENV_FILE)?.data.toString("utf8");
  const volumes = appVolumes(app);
  let installed: ReturnType<typeof namespaceApp>;
  try {
    const checked = checkQuadletFiles(files.filter((f) => f.path !== ENV_FILE));
    installed = namespaceApp(checked, app.id, dir, env !== undefined);
  } catch (e) {
    if (e instanceof QuadletFileError) throw new ApplyError("apps", app.name, e.message);
    throw e;
  }
  if (env !== undefined) installed.files.set(ENV_FILE, env);
  const runner = quadletRunner(ctx);
  const qapp: QuadletApp = { name: app.name, id: app.id, dir, units: installed.units, target: installed.target.name, user: as?.user };
  runner.check(ctx, qapp, installed.files);
  if (as) {
    // Pulls and volumes would have to run in the user's podman; the user's units pull their images when they start.
    if (volumes.some((v) => v.image))
      throw new ApplyError("apps", app.name, `runAs ${as.user}: image volumes are only supported for root applications by this agent`);
  } else {
    for (const image of imagesOf(installed.files)) await pullImage(ctx, app.name, image);
    for (const v of volumes) if (v.image) await pullImage(ctx, app.name, v.image, v.pullPolicy);
  }
  // The running version stops before its files are replaced (flightctl removes, then adds, on an update): what the
  // new version no longer has would otherwise keep running under names nothing tracks.
  const old = installedApp(ctx, app);
  if (old) await runner.stop(ctx, old);
  if (app.type === "quadlet" && !as) await ensureImageVolumes(ctx, app, volumes);
  const previous = readTree(ctx, dir);
  const targetPath = posix.join(targetDirOf(as), installed.target.name);
  const previousTarget = ctx.fs.read(targetPath);
  const owner = as ? { uid: as.uid, gid: as.gid } : {};
  const write = (root: string, entries: Iterable<[string, string | Buffer]>) => {
    ctx.fs.remove(root);
    ctx.fs.mkdir(root);
    for (const [path, data] of entries) ctx.fs.write(posix.join(root, path), data, { mode: 0o644, ...owner });
  };
  write(dir, installed.files);
  ctx.fs.write(targetPath, installed.target.content, { mode: 0o644, ...owner });
  try {
    await runner.reload(ctx, qapp);
  } catch (e) {
    if (previous.length > 0)
      write(
        dir,
        previous.map((f) => [f.path, f.data] as [string, Buffer]),
      );
    else ctx.fs.remove(dir);
    if (previousTarget) ctx.fs.write(targetPath, previousTarget, { mode: 0o644, ...owner });
    else ctx.fs.remove(targetPath);
    throw e;
  }
  return qapp;
}

/** The installed app, or an ApplyError saying it is not installed. */
export function mustBeInstalled(ctx: AppContext, app: AppRef): QuadletApp {
  const q = installedApp(ctx, app);
  if (!q) throw new ApplyError("apps", app.name, "is not installed (no quadlet files in its directory)");
  return q;
}

async function podmanList(ctx: AppContext, args: string[]): Promise<string[]> {
  const r = await ctx.exec.run("podman", args);
  return r.code === 0 ? r.stdout.split("\n").filter(Boolean) : [];
}

/**
 * Stops the app, removes what podman holds for it (containers, pods and networks carrying its label; volumes that
 * only mirror an image), then its files and target. Named volumes stay (reclaim policy Retain).
 */
export async function removeQuadletApp(ctx: AppContext, app: AppRef): Promise<void> {
  const as = runAs(ctx, app);
  const runner = quadletRunner(ctx);
  const q = installedApp(ctx, app);
  if (q) await runner.stop(ctx, q);
  const filter = `label=${QUADLET_PROJECT_LABEL}=${app.id}`;
  const fail = (what: string, r: { stderr: string; stdout: string }) =>
    new ApplyError("apps", app.name, `cannot remove ${what}: ${(r.stderr || r.stdout).trim()}`);
  if (!as) {
    const containers = await podmanList(ctx, ["ps", "-a", "--filter", filter, "--format", "{{.Names}}"]);
    if (containers.length > 0) {
      const r = await ctx.exec.run("podman", ["rm", "-f", "-i", ...containers]);
      if (r.code !== 0) throw fail(`containers ${containers.join(", ")}`, r);
    }
    const pods = await podmanList(ctx, ["pod", "ps", "--filter", filter, "--format", "{{.Name}}"]);
    if (pods.length > 0) {
      const r = await ctx.exec.run("podman", ["pod", "rm", "-f", ...pods]);
      if (r.code !== 0) throw fail(`pods ${pods.join(", ")}`, r);
    }
    const networks = await podmanList(ctx, ["network", "ls", "--filter", filter, "--format", "{{.Name}}"]);
    if (networks.length > 0) {
      const r = await ctx.exec.run("podman", ["network", "rm", ...networks]);
      if (r.code !== 0) throw fail(`networks ${networks.join(", ")}`, r);
    }
    await removeEphemeralVolumes(ctx, app);
  }
  const dir = appDirOf(app, as);
  ctx.fs.remove(dir);
  ctx.fs.remove(posix.join(targetDirOf(as), targetName(app.id)));
  if (runner.kind === "systemd")
    await runner.reload(ctx, { name: app.name, id: app.id, dir, units: [], target: targetName(app.id), user: as?.user });
}

/** A provider of quadlet files (a quadlet app's own, or those generated for a container app): installed, run and
 * removed the same way whatever made them. */
export function quadletFilesProvider(files: (ctx: AppContext, app: AppRef) => AppFile[] | Promise<AppFile[]>): AppProvider {
  return {
    async install(ctx, app) {
      await installQuadletApp(ctx, app, await files(ctx, app));
    },
    start: (ctx, app) => quadletRunner(ctx).start(ctx, mustBeInstalled(ctx, app)),
    async stop(ctx, app) {
      const q = installedApp(ctx, app);
      if (q) await quadletRunner(ctx).stop(ctx, q);
    },
    restart: (ctx, app) => quadletRunner(ctx).restart(ctx, mustBeInstalled(ctx, app)),
    remove: (ctx, app) => removeQuadletApp(ctx, app),
  };
}
