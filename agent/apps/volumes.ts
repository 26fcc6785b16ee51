// Application volumes of the spec (flightctl's ApplicationVolume) for quadlet and container apps. A volume is named
// <app id>-<name> on the host, the name a quadlet file's `Volume=<name>:/path` gets after namespacing, so the file and
// the spec meet. Kinds: `mount` (a named volume mounted at a path; container apps), `image` (a volume filled from an
// OCI image; quadlet apps), `image` + `mount` (both; container apps). flightctl fills artifact volumes itself (podman
// ≥ 5.5); here images fill them through podman's image volume driver. Reclaim policy "Retain" (the only one) keeps a
// volume when its app is removed; volumes that only mirror an image (driver image) hold no data and are removed.
import { ApplyError } from "../apply-error.js";
import { QUADLET_PROJECT_LABEL } from "./labels.js";
import type { AppContext, AppRef } from "./provider.js";

export interface AppVolume {
  name: string;
  /** <app id>-<name> */
  id: string;
  image?: string;
  pullPolicy: "Always" | "IfNotPresent" | "Never";
  /** Container path with options ("/data:ro") for mounted volumes. */
  mountPath?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const POLICIES = ["Always", "IfNotPresent", "Never"];

/** The spec's volumes of `app`, checked for its type; errors name the app and the volume. */
export function appVolumes(app: AppRef): AppVolume[] {
  const out: AppVolume[] = [];
  const seen = new Set<string>();
  for (const [i, v] of (app.spec.volumes ?? []).entries()) {
    const fail = (msg: string) => new ApplyError("apps", app.name, `volumes[${i}]${v.name ? ` (${v.name})` : ""}: ${msg}`);
    const name = v.name ?? "";
    if (!NAME.test(name)) throw fail(`name "${name}" must start with a letter or digit and hold only letters, digits, "_", "." and "-"`);
    if (seen.has(name)) throw fail("the name is used twice");
    seen.add(name);
    if (v.reclaimPolicy && v.reclaimPolicy !== "Retain") throw fail(`reclaimPolicy "${v.reclaimPolicy}" is not supported (only Retain)`);
    const image = v.image?.reference;
    if (v.image && !image) throw fail("image.reference is required");
    const pullPolicy = (v.image?.pullPolicy ?? "IfNotPresent") as AppVolume["pullPolicy"];
    if (!POLICIES.includes(pullPolicy)) throw fail(`image.pullPolicy "${pullPolicy}" must be one of ${POLICIES.join(", ")}`);
    const mountPath = v.mount?.path;
    if (v.mount && !mountPath?.startsWith("/")) throw fail(`mount.path "${mountPath ?? ""}" must be an absolute container path`);
    if (!image && !mountPath) throw fail("needs an image, a mount, or both");
    if (app.type === "container" && !mountPath) throw fail("a container application's volume needs a mount path");
    if (app.type === "quadlet" && mountPath)
      throw fail("quadlet applications mount volumes in their own files (Volume=); mount is for container applications");
    out.push({ name, id: `${app.id}-${name}`, image, pullPolicy, mountPath });
  }
  return out;
}

/** Pulls `image` as `policy` says; "Never" requires it present. */
export async function pullImage(
  ctx: AppContext,
  app: string,
  image: string,
  policy: AppVolume["pullPolicy"] = "IfNotPresent",
): Promise<void> {
  if (policy !== "Always" && (await ctx.exec.run("podman", ["image", "exists", image])).code === 0) return;
  if (policy === "Never") throw new ApplyError("apps", app, `image ${image} is not on the device and its pullPolicy is Never`);
  const r = await ctx.exec.run("podman", ["pull", image]);
  if (r.code !== 0) throw new ApplyError("apps", app, `cannot pull image ${image}: ${(r.stderr || r.stdout).trim()}`);
}

/**
 * Makes the image-filled volumes of a quadlet app (their images already pulled): <id>-<name> with podman's image driver, labelled with the app. A
 * volume left from an earlier version with another image is replaced (podman refuses while a container uses it).
 */
export async function ensureImageVolumes(ctx: AppContext, app: AppRef, volumes: AppVolume[]): Promise<void> {
  for (const v of volumes) {
    if (!v.image) continue;
    const have = await ctx.exec.run("podman", ["volume", "inspect", "--format", '{{.Driver}} {{index .Options "image"}}', v.id]);
    if (have.code === 0) {
      if (have.stdout.trim() === `image ${v.image}`) continue;
      const rm = await ctx.exec.run("podman", ["volume", "rm", v.id]);
      if (rm.code !== 0)
        throw new ApplyError("apps", app.name, `volume ${v.name}: cannot replace ${v.id}: ${(rm.stderr || rm.stdout).trim()}`);
    }
    const label = `${QUADLET_PROJECT_LABEL}=${app.id}`;
    const r = await ctx.exec.run("podman", ["volume", "create", "--driver", "image", "--opt", `image=${v.image}`, "--label", label, v.id]);
    if (r.code !== 0) throw new ApplyError("apps", app.name, `volume ${v.name}: cannot create ${v.id}: ${(r.stderr || r.stdout).trim()}`);
  }
}

interface VolumeInfo {
  Name: string;
  Driver: string;
  Options?: Record<string, string>;
  Labels?: Record<string, string>;
}

/**
 * Removal of an app's volumes (labelled with the app or named <id>-…): those that only mirror an image or live in
 * memory (tmpfs) go, as in flightctl; the rest are kept (reclaim policy Retain). Answers the names removed.
 */
export async function removeEphemeralVolumes(ctx: AppContext, app: { name: string; id: string }): Promise<string[]> {
  const ls = await ctx.exec.run("podman", ["volume", "ls", "--format", "{{.Name}}"]);
  if (ls.code !== 0) throw new ApplyError("apps", app.name, `podman volume ls failed: ${(ls.stderr || ls.stdout).trim()}`);
  const names = ls.stdout.split("\n").filter(Boolean);
  if (names.length === 0) return [];
  const inspect = await ctx.exec.run("podman", ["volume", "inspect", ...names]);
  const infos: VolumeInfo[] = inspect.code === 0 && inspect.stdout.trim() ? JSON.parse(inspect.stdout) : [];
  const gone: string[] = [];
  for (const v of infos) {
    const ours = v.Labels?.[QUADLET_PROJECT_LABEL] === app.id || v.Name.startsWith(`${app.id}-`);
    const ephemeral = v.Driver === "image" || (v.Driver === "local" && v.Options?.type === "tmpfs");
    if (!ours || !ephemeral) continue;
    const r = await ctx.exec.run("podman", ["volume", "rm", "-f", v.Name]);
    if (r.code !== 0) throw new ApplyError("apps", app.name, `cannot remove volume ${v.Name}: ${(r.stderr || r.stdout).trim()}`);
    gone.push(v.Name);
  }
  return gone;
}
