// The bootc client, as flightctl's: `bootc status --json` read into the three deployments (booted, staged, rollback),
// and `bootc switch` that stages an image from container storage (prefetch pulled it there) for the next boot.
import { ApplyError } from "./apply-error.js";
import type { Executor } from "./host.js";

/** One deployment as bootc reports it: status.<slot>.image.image.image and status.<slot>.image.imageDigest. */
export interface BootcDeployment {
  image: string;
  imageDigest: string;
}

/** What `bootc status --json` says; a slot bootc reports as null (nothing staged, no rollback) is undefined. */
export interface BootcStatus {
  booted?: BootcDeployment;
  staged?: BootcDeployment;
  rollback?: BootcDeployment;
}

/** flightctl's switch timeout is the update's; a switch pulls nothing here (the image is in storage), so 10 min. */
const SWITCH_TIMEOUT_MS = 10 * 60_000;

function deployment(slot: unknown): BootcDeployment | undefined {
  const img = (slot as { image?: { image?: { image?: unknown }; imageDigest?: unknown } } | null)?.image;
  if (!img || typeof img.image?.image !== "string" || !img.image.image) return undefined;
  return { image: img.image.image, imageDigest: typeof img.imageDigest === "string" ? img.imageDigest : "" };
}

/** Parses bootc's BootcHost document (org.containers.bootc/v1alpha1); throws when it is not one. */
export function parseBootcStatus(text: string): BootcStatus {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`bootc status printed no JSON: ${JSON.stringify(text.slice(0, 80))}`);
  }
  const status = (doc as { status?: Record<string, unknown> } | null)?.status;
  if (!status || typeof status !== "object") throw new Error("bootc status JSON has no status");
  return { booted: deployment(status.booted), staged: deployment(status.staged), rollback: deployment(status.rollback) };
}

export async function bootcStatus(exec: Executor): Promise<BootcStatus> {
  const r = await exec.run("bootc", ["status", "--json"]);
  if (r.code !== 0) throw new Error(`bootc status failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
  return parseBootcStatus(r.stdout);
}

/**
 * The reference bootc is given for `image`: bootc refuses a reference with both a tag and a digest, so (as flightctl)
 * such a reference becomes name@digest. The booted image bootc reports is compared with this.
 */
export function bootcTarget(image: string): string {
  const at = image.indexOf("@");
  if (at < 0) return image;
  const name = image.slice(0, at);
  const slash = name.lastIndexOf("/");
  const colon = name.lastIndexOf(":");
  return colon > slash ? `${name.slice(0, colon)}${image.slice(at)}` : image;
}

/** Stages `image` (pulled into container storage by prefetch) for the next boot, keeping the booted one for rollback. */
export async function bootcSwitch(exec: Executor, image: string): Promise<void> {
  const target = bootcTarget(image);
  const r = await exec.run("bootc", ["switch", "--transport", "containers-storage", "--retain", target], { timeoutMs: SWITCH_TIMEOUT_MS });
  if (r.code !== 0) throw new ApplyError("os", image, `bootc switch failed (${r.code}): ${(r.stderr || r.stdout).trim()}`);
}
