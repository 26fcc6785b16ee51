// `quadlet` applications: podman quadlet files given inline in the spec or packaged at the root of an OCI image.
// The files are installed as flightctl installs them (quadlet-install.ts) and run by systemd through podman's quadlet
// generator, or by podman directly where the host has neither (quadlet-runner.ts, quadlet-podman.ts).
import { ApplyError } from "../apply-error.js";
import { decodeContent } from "./app-id.js";
import { extractImageFiles } from "./image-files.js";
import type { AppContext, AppProvider, AppRef } from "./provider.js";
import type { AppFile } from "./quadlet-files.js";
import { quadletFilesProvider, readTree } from "./quadlet-install.js";
import { pullImage } from "./volumes.js";

/** Where an application package is unpacked before its files are checked (outside the generator's directories). */
const STAGING = "/var/lib/flightctl/apps-staging";

/** The app's files: inline content decoded, or the root of its image. */
async function appFiles(ctx: AppContext, app: AppRef): Promise<AppFile[]> {
  const { inline, image } = app.spec;
  if (inline?.length) {
    return inline.map((f, i) => {
      if (!f.path) throw new ApplyError("apps", app.name, `inline[${i}]: path is required`);
      return { path: f.path, data: decodeContent(f) };
    });
  }
  if (!image) throw new ApplyError("apps", app.name, "a quadlet application needs inline files or an image");
  await pullImage(ctx, app.name, image);
  const dir = `${STAGING}/${app.id}`;
  try {
    await extractImageFiles(ctx, app.name, image, dir);
    const files = readTree(ctx, dir);
    if (files.length === 0) throw new ApplyError("apps", app.name, `image ${image} holds no files at its root`);
    return files;
  } finally {
    ctx.fs.remove(dir);
  }
}

export const quadletProvider: AppProvider = quadletFilesProvider(appFiles);
