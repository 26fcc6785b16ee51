// Applying a rendered spec to the host, in flightctl's order: applications, config files, systemd units (the OS
// image, which needs a reboot, is agent/os-update.ts). Each step fails with the component and element at fault so
// the status message says what broke.
import { createHash } from "node:crypto";
import { posix } from "node:path";
import type {
  ApplicationContentJson,
  ApplicationProviderSpecJson,
  DeviceSpecJson,
  FileSpecJson,
  SystemdUnitStatusJson,
} from "../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "./apply-error.js";
import { checkDevicePath, type PathError, type Executor, type HostFs } from "./host.js";

export { ApplyError };

/** A config file of the spec (every rendered one has a path: the service checks it). */
type File = FileSpecJson & { path: string };

const filesOf = (spec: DeviceSpecJson): File[] =>
  (spec.config ?? []).flatMap((p) => p.inline ?? []).map((f) => ({ ...f, path: f.path ?? "" }));
const appsOf = (spec: DeviceSpecJson): ApplicationProviderSpecJson[] => spec.applications ?? [];

function decode(f: FileSpecJson | ApplicationContentJson): Buffer {
  return f.contentEncoding === "base64" ? Buffer.from(f.content ?? "", "base64") : Buffer.from(f.content ?? "", "utf8");
}

/** Owner ids: numeric as is; root by name; other names only on a real host (getent) — the simulator owns nothing. */
function ownerId(v: string | undefined): number | undefined {
  if (v === undefined || v === "" || v === "root") return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  return undefined;
}

/** Config files an update touches, by device path (what hooks' `if` conditions and template variables see). */
export interface FileChanges {
  created: string[];
  updated: string[];
  removed: string[];
}

/**
 * What applyFiles would do to the host now: files of the new spec that are missing (created) or differ in content or
 * mode (updated), and files the new spec dropped that are still there (removed). Bad paths fail here, before anything
 * is touched.
 */
export function planFiles(fs: HostFs, current: DeviceSpecJson, desired: DeviceSpecJson): FileChanges {
  const want = new Map<string, File>();
  for (const f of filesOf(desired)) {
    try {
      want.set(checkDevicePath(f.path), f);
    } catch (e) {
      throw new ApplyError("config", f.path, (e as PathError).message);
    }
  }
  const changes: FileChanges = { created: [], updated: [], removed: [] };
  for (const f of filesOf(current)) {
    const path = posix.normalize(f.path);
    if (!want.has(path) && fs.exists(path) && !changes.removed.includes(path)) changes.removed.push(path);
  }
  for (const [path, f] of want) {
    const have = fs.read(path);
    if (!have) changes.created.push(path);
    else if (!have.equals(decode(f)) || fs.mode(path) !== (f.mode ?? 0o644)) changes.updated.push(path);
  }
  return changes;
}

/** Config files: remove what the new spec dropped, write what differs (atomically), leave the rest alone. */
export function applyFiles(fs: HostFs, current: DeviceSpecJson, desired: DeviceSpecJson): FileChanges {
  const changes = planFiles(fs, current, desired);
  const want = new Map(filesOf(desired).map((f) => [posix.normalize(f.path), f]));
  for (const path of changes.removed) fs.remove(path);
  for (const path of [...changes.created, ...changes.updated]) {
    const f = want.get(path)!;
    try {
      fs.write(path, decode(f), { mode: f.mode ?? 0o644, uid: ownerId(f.user), gid: ownerId(f.group) });
    } catch (e) {
      throw new ApplyError("config", path, (e as Error).message);
    }
  }
  return changes;
}

/** flightctl-style application id: sanitized name plus a short hash, DNS-label safe. */
export function appId(name: string): string {
  const clean =
    name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 50) || "app";
  return `${clean}-${createHash("sha256").update(name).digest("hex").slice(0, 6)}`;
}

const APP_DIRS: Record<string, string> = {
  compose: "/etc/compose/manifests",
  quadlet: "/etc/containers/systemd",
  container: "/etc/containers/systemd",
};

export interface AppState {
  name: string;
  appType: string;
  status: "Running" | "Error" | "Stopped";
  message?: string;
}

async function must(exec: Executor, app: string, cmd: string, args: string[]) {
  const r = await exec.run(cmd, args);
  if (r.code !== 0) throw new ApplyError("apps", app, `${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
}

/** The container quadlet flightctl generates for a single-image "container" application. */
function containerQuadlet(app: ApplicationProviderSpecJson): string {
  const lines = ["[Container]", `Image=${String(app.image)}`];
  for (const p of app.ports ?? app.publishPorts ?? []) lines.push(`PublishPort=${p}`);
  for (const [k, v] of Object.entries(app.envVars ?? {})) lines.push(`Environment=${k}=${v}`);
  return `${lines.join("\n")}\n\n[Install]\nWantedBy=multi-user.target default.target\n`;
}

/** An application without the two fields the service's actions set (to tell a content change from an action). */
function withoutLifecycle(app: ApplicationProviderSpecJson | undefined): ApplicationProviderSpecJson | undefined {
  if (!app) return undefined;
  const { desiredState: _s, restartGeneration: _g, ...rest } = app;
  return rest;
}

/** Applications: stop and remove dropped ones, write and (re)start new or changed ones. */
export async function applyApps(fs: HostFs, exec: Executor, current: DeviceSpecJson, desired: DeviceSpecJson): Promise<AppState[]> {
  const wanted = new Map(appsOf(desired).map((a) => [String(a.name ?? a.image), a]));
  const had = new Map(appsOf(current).map((a) => [String(a.name ?? a.image), a]));
  for (const [name, app] of had) {
    if (wanted.has(name)) continue;
    const id = appId(name);
    const type = String(app.appType);
    if (type === "compose") await must(exec, name, "podman", ["compose", "-p", id, "down"]);
    else await must(exec, name, "systemctl", ["stop", `${id}.target`]);
    fs.remove(`${APP_DIRS[type] ?? "/etc/containers/systemd"}/${id}`);
  }
  const states: AppState[] = [];
  for (const [name, app] of wanted) {
    const type = String(app.appType ?? "compose");
    const dir = APP_DIRS[type];
    if (!dir) throw new ApplyError("apps", name, `application type "${type}" is not supported by this agent`);
    const id = appId(name);
    const before = had.get(name);
    // The service's start/stop/restart actions arrive as desiredState and restartGeneration on the rendered
    // application: a change of only those two acts on what runs, without rewriting or pulling anything.
    const content = JSON.stringify(withoutLifecycle(before)) !== JSON.stringify(withoutLifecycle(app));
    const stopped = app.desiredState === "stopped";
    const wasStopped = before?.desiredState === "stopped";
    const restart = !content && (before?.restartGeneration ?? 0) !== (app.restartGeneration ?? 0);
    const composeFile = () => fs.real(`${dir}/${id}/${app.inline?.[0]?.path ?? "docker-compose.yaml"}`);
    if (content) {
      for (const f of app.inline ?? []) {
        const path = f.path ?? "";
        if (path.includes("..") || path.startsWith("/")) throw new ApplyError("apps", name, `inline path "${path}" must be relative`);
        fs.write(`${dir}/${id}/${path}`, decode(f), { mode: 0o644 });
      }
      if (type === "container") fs.write(`${dir}/${id}/${id}.container`, containerQuadlet(app));
      if (app.image && type !== "container") await must(exec, name, "podman", ["pull", String(app.image)]);
    }
    if (stopped) {
      if (content || !wasStopped) {
        if (type === "compose") await must(exec, name, "podman", ["compose", "-p", id, "-f", composeFile(), "stop"]);
        else await must(exec, name, "systemctl", ["stop", `${id}.service`]);
      }
    } else if (content || wasStopped) {
      if (type === "compose") {
        await must(exec, name, "podman", ["compose", "-p", id, "-f", composeFile(), "up", "-d"]);
      } else {
        await must(exec, name, "systemctl", ["daemon-reload"]);
        await must(exec, name, "systemctl", ["restart", `${id}.service`]);
      }
    } else if (restart) {
      if (type === "compose") await must(exec, name, "podman", ["compose", "-p", id, "-f", composeFile(), "restart"]);
      else await must(exec, name, "systemctl", ["restart", `${id}.service`]);
    }
    states.push({ name, appType: type, status: stopped ? "Stopped" : "Running" });
  }
  return states;
}

/** The image the OS switches to in this update, if it changes. */
export function osImageChange(current: DeviceSpecJson, desired: DeviceSpecJson): string | undefined {
  const want = desired.os?.image;
  const have = current.os?.image;
  return want && want !== have ? want : undefined;
}

/** systemd units matching the spec's patterns, as status.systemd entries. */
export async function systemdStatus(exec: Executor, spec: DeviceSpecJson): Promise<SystemdUnitStatusJson[]> {
  const patterns = spec.systemd?.matchPatterns ?? [];
  if (patterns.length === 0) return [];
  const r = await exec.run("systemctl", ["list-units", "--all", "--plain", "--no-legend", "--output=json", ...patterns]);
  if (r.code !== 0 || !r.stdout.trim()) return [];
  try {
    return (JSON.parse(r.stdout) as { unit: string; load: string; active: string; sub: string; description: string }[]).map((u) => ({
      unit: u.unit,
      description: u.description,
      loadState: u.load,
      activeState: u.active,
      subState: u.sub,
      enableState: "",
    }));
  } catch {
    return [];
  }
}
