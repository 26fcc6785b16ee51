// Images an app needs, made present before anything changes: a pull that fails is the app's error, naming the image
// and podman's cause (an image that does not exist, a registry that refuses).
import { ApplyError } from "../apply-error.js";
import type { AppContext, AppRef } from "./provider.js";

/** flightctl's pull timeout. */
const PULL_TIMEOUT_MS = 10 * 60_000;

/** The first line that says what went wrong in a podman answer (podman's "Error: …" lines, else the last line). */
export function podmanCause(out: string): string {
  const lines = out
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const errors = [...new Set(lines.filter((l) => l.startsWith("Error:")).map((l) => l.slice(6).trim()))];
  return errors.length > 0 ? errors.join("; ") : (lines.at(-1) ?? "");
}

/** Pulls `ref` unless the host has it. */
export async function ensureImage(ctx: AppContext, app: AppRef, ref: string): Promise<void> {
  if ((await ctx.exec.run("podman", ["image", "exists", ref])).code === 0) return;
  const r = await ctx.exec.run("podman", ["pull", ref], { timeoutMs: PULL_TIMEOUT_MS });
  if (r.code !== 0) throw new ApplyError("apps", app.name, `image ${ref} cannot be pulled: ${podmanCause(r.stderr || r.stdout)}`);
}
