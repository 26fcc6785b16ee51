// Applying a rendered spec to the host, in flightctl's order: applications, config files, systemd units (the OS
// image, which needs a reboot, is agent/os-update.ts). Each step fails with the component and element at fault so
// the status message says what broke.
import { posix } from "node:path";
import type { DeviceSpecJson, FileSpecJson, SystemdUnitStatusJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { ApplyError } from "./apply-error.js";
import { checkDevicePath, type PathError, type Executor, type HostFs } from "./host.js";

export { ApplyError };
// Applications have their own module (agent/apps/); callers keep importing the step from here.
export { appId } from "./apps/app-id.js";
export { AppsRefused, applyApps, type AppState } from "./apps/apply-apps.js";

/** A config file of the spec (every rendered one has a path: the service checks it). */
type File = FileSpecJson & { path: string };

const filesOf = (spec: DeviceSpecJson): File[] =>
  (spec.config ?? []).flatMap((p) => p.inline ?? []).map((f) => ({ ...f, path: f.path ?? "" }));

function decode(f: FileSpecJson): Buffer {
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
