// Prefetch: before an update changes anything, pull the images it needs that the host lacks (flightctl pulls them
// one after the other, if not present): the applications' images and the OS image it switches to. A pull that fails
// is not the version's fault (a registry or network hiccup): the agent keeps what it runs and tries again later.
import type { DeviceSpecJson } from "../gen/flightctl/v1beta1/device_pb.js";
import { osImageChange } from "./apply.js";
import type { Executor } from "./host.js";

/** flightctl's pull-timeout. */
const PULL_TIMEOUT_MS = 10 * 60_000;

/** The update cannot start yet; the message (for the Preparing condition) names the image. */
export class PrefetchNotReady extends Error {
  constructor(
    readonly image: string,
    message: string,
  ) {
    super(message.slice(0, 250));
  }
}

/** Images the desired spec needs, each with what needs it (app names, or "the OS"): its applications' and, when it
 * changes, the OS image. */
export function imagesOf(current: DeviceSpecJson, desired: DeviceSpecJson): Map<string, string[]> {
  const images = new Map<string, string[]>();
  const need = (ref: string, by: string) => images.set(ref, [...(images.get(ref) ?? []), by]);
  for (const a of desired.applications ?? []) if (typeof a.image === "string" && a.image) need(a.image, `app ${a.name ?? a.image}`);
  const os = osImageChange(current, desired);
  if (os) need(os, "the OS");
  return images;
}

/** Pulls the missing images, serially; throws PrefetchNotReady at the first that cannot be pulled (naming who needs it). */
export async function prefetch(exec: Executor, current: DeviceSpecJson, desired: DeviceSpecJson): Promise<void> {
  const images = [...imagesOf(current, desired)];
  for (const [i, [ref, users]] of images.entries()) {
    if ((await exec.run("podman", ["image", "exists", ref])).code === 0) continue;
    const r = await exec.run("podman", ["pull", ref], { timeoutMs: PULL_TIMEOUT_MS });
    if (r.code !== 0)
      throw new PrefetchNotReady(
        ref,
        `${i}/${images.length} images ready; retrying ${ref} (for ${users.join(", ")}): pull failed (${r.code}): ${(r.stderr || r.stdout).trim()}`,
      );
  }
}
