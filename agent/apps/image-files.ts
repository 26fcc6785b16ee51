// Application packages: a compose or quadlet app given as an OCI image carries its files at the image's root. They
// are copied out through a container that is created and never started (no command needs to exist in the image),
// then the container is removed.
import { ApplyError } from "../apply-error.js";
import type { AppContext } from "./provider.js";

/** Copies the root of `image` (already pulled) into device directory `dir`; answers the file names found there. */
export async function extractImageFiles(ctx: AppContext, app: string, image: string, dir: string): Promise<string[]> {
  const created = await ctx.exec.run("podman", ["create", "--pull", "never", image, "flightctl-extract"]);
  if (created.code !== 0) throw new ApplyError("apps", app, `cannot open image ${image}: ${(created.stderr || created.stdout).trim()}`);
  const cid = created.stdout.trim().split("\n").at(-1) ?? "";
  try {
    ctx.fs.remove(dir);
    ctx.fs.mkdir(dir);
    const cp = await ctx.exec.run("podman", ["cp", `${cid}:/.`, ctx.fs.real(dir)]);
    if (cp.code !== 0) throw new ApplyError("apps", app, `cannot copy the files of image ${image}: ${(cp.stderr || cp.stdout).trim()}`);
  } finally {
    await ctx.exec.run("podman", ["rm", "-f", cid]);
  }
  return ctx.fs.list(dir);
}
