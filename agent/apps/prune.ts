// Image pruning after a successful update, with flightctl's rules (internal/agent/device/image_pruning): only images
// the previous spec referenced and the new one no longer does are candidates, never one the new spec still needs,
// never one a container (running or not) was created from; an image the host no longer has is skipped. Pruning is
// housekeeping: a failure is logged, the update it follows has succeeded.
import type { Logger } from "pino";
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { Executor, HostFs } from "../host.js";
import { appRef } from "./app-id.js";
import { composeDir } from "./compose-provider.js";
import { composeFiles, parseCompose } from "./compose-spec.js";

/**
 * The app images `spec` references on this host: each app's image (a container app's, or an application package),
 * and the images of compose services, read from the app's files as installed (for a package, what it unpacked).
 * Read before an update for the old spec, after it for the new one.
 */
export function appImages(fs: HostFs, spec: DeviceSpecJson): string[] {
  const images = new Set<string>();
  for (const a of spec.applications ?? []) {
    const app = appRef(a);
    if (a.image) images.add(a.image);
    if (app.type !== "compose") continue;
    const dir = composeDir(app.id);
    const parsed = parseCompose(composeFiles(fs.list(dir)), (f) => fs.read(`${dir}/${f}`));
    if ("services" in parsed) for (const image of parsed.services.values()) images.add(image);
  }
  return [...images];
}

interface PsEntry {
  Image?: string;
  ImageID?: string;
}

/** Removes the images of `before` that `after` does not reference and no container uses; answers the removed ones. */
export async function pruneImages(exec: Executor, log: Logger, before: string[], after: string[]): Promise<string[]> {
  const keep = new Set(after);
  const candidates = before.filter((i) => !keep.has(i));
  if (candidates.length === 0) return [];
  const ps = await exec.run("podman", ["ps", "-a", "--format", "json"]);
  let used: PsEntry[];
  try {
    used = JSON.parse(ps.stdout) as PsEntry[];
    if (ps.code !== 0 || !Array.isArray(used)) throw new Error(ps.stderr.trim() || "no container list");
  } catch (e) {
    // Without knowing what the containers use, nothing is safe to remove. (The simulator's recording executor
    // answers nothing at all: no host, nothing to prune, nothing to warn about.)
    const level = ps.code === 0 && !ps.stdout.trim() ? "debug" : "warn";
    log[level]({ err: (e as Error).message }, "image pruning skipped: cannot list containers");
    return [];
  }
  const usedIds = new Set(used.map((c) => c.ImageID));
  const usedNames = new Set(used.map((c) => c.Image));
  // The new spec's images by id too: an old tag of an image the new spec still runs under another name is kept.
  const keepIds = new Set<string>();
  for (const ref of after) {
    const id = await imageId(exec, ref);
    if (id) keepIds.add(id);
  }
  const removed: string[] = [];
  for (const ref of candidates) {
    const id = await imageId(exec, ref);
    if (!id) continue;
    if (usedIds.has(id) || usedNames.has(ref) || keepIds.has(id)) {
      log.info({ image: ref }, "image kept: still in use");
      continue;
    }
    const r = await exec.run("podman", ["rmi", ref]);
    if (r.code === 0) removed.push(ref);
    else log.warn({ image: ref, err: r.stderr.trim() }, "image pruning failed");
  }
  if (removed.length > 0) log.info({ images: removed }, "pruned images no longer referenced");
  return removed;
}

async function imageId(exec: Executor, ref: string): Promise<string | undefined> {
  const r = await exec.run("podman", ["image", "inspect", "--format", "{{.Id}}", ref]);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}
