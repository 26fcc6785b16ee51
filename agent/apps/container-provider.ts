// `container` applications: one runnable image with ports, environment, volumes and resource limits. As flightctl
// does, the agent writes the quadlet file such an app amounts to (app.container, plus a .volume for each
// image-backed mount) and installs it like any quadlet app, so systemd or the podman-direct runner runs it.
import { ApplyError } from "../apply-error.js";
import type { AppProvider, AppRef } from "./provider.js";
import type { AppFile } from "./quadlet-files.js";
import { quadletFilesProvider } from "./quadlet-install.js";
import { writeUnit, type Unit } from "./unit-file.js";
import { appVolumes } from "./volumes.js";

const CPU = /^(?:\d+(?:\.\d+)?|\.\d+)$/;
const MEMORY = /^\d+[bkmg]?$/;

function port(app: AppRef, p: string): string {
  const m = /^(\d+):(\d+)$/.exec(p);
  const ok = (n: string) => Number(n) >= 1 && Number(n) <= 65535;
  if (!m || !ok(m[1]) || !ok(m[2])) throw new ApplyError("apps", app.name, `ports: "${p}" must be hostPort:containerPort, each 1-65535`);
  return p;
}

/** The files flightctl generates for a container app: app.container and one .volume per image-backed volume. */
export function containerFiles(app: AppRef): AppFile[] {
  const image = app.spec.image;
  if (!image) throw new ApplyError("apps", app.name, "a container application needs an image");
  const c: [string, string][] = [["Image", image]];
  const limits = app.spec.resources?.limits;
  if (limits?.cpu !== undefined) {
    if (!CPU.test(limits.cpu) || Number(limits.cpu) <= 0)
      throw new ApplyError("apps", app.name, `resources.limits.cpu "${limits.cpu}" must be a positive decimal number`);
    c.push(["PodmanArgs", `--cpus ${limits.cpu}`]);
  }
  if (limits?.memory !== undefined) {
    if (!MEMORY.test(limits.memory))
      throw new ApplyError(
        "apps",
        app.name,
        `resources.limits.memory "${limits.memory}" must be a number with an optional unit b, k, m or g`,
      );
    c.push(["PodmanArgs", `--memory ${limits.memory}`]);
  }
  for (const p of app.spec.ports ?? []) c.push(["PublishPort", port(app, p)]);
  const files: AppFile[] = [];
  for (const v of appVolumes(app)) {
    if (v.image) {
      const vol: Unit = {
        sections: [
          {
            name: "Volume",
            entries: [
              ["Image", v.image],
              ["Driver", "image"],
            ],
          },
        ],
      };
      files.push({ path: `${v.name}.volume`, data: Buffer.from(writeUnit(vol)) });
      c.push(["Volume", `${v.name}.volume:${v.mountPath}`]);
    } else c.push(["Volume", `${v.name}:${v.mountPath}`]);
  }
  const unit: Unit = {
    sections: [
      { name: "Container", entries: c },
      {
        name: "Service",
        entries: [
          ["Restart", "on-failure"],
          ["RestartSec", "5"],
        ],
      },
      { name: "Install", entries: [["WantedBy", "default.target"]] },
    ],
  };
  files.push({ path: "app.container", data: Buffer.from(writeUnit(unit)) });
  return files;
}

export const containerProvider: AppProvider = quadletFilesProvider((_ctx, app) => containerFiles(app));
