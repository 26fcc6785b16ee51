// container applications (one image), as the agent had them before the providers: a container quadlet written to
// /etc/containers/systemd/<id>/<id>.container and systemd acting on <id>.service. (Being rewritten.)
import { posix } from "node:path";
import type { ApplicationProviderSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { decodeContent, inlinePath } from "./app-id.js";
import { must } from "./must.js";
import type { AppProvider } from "./provider.js";

const DIR = "/etc/containers/systemd";

/** The container quadlet flightctl generates for a single-image "container" application. */
function containerQuadlet(app: ApplicationProviderSpecJson): string {
  const lines = ["[Container]", `Image=${String(app.image)}`];
  for (const p of app.ports ?? app.publishPorts ?? []) lines.push(`PublishPort=${p}`);
  for (const [k, v] of Object.entries(app.envVars ?? {})) lines.push(`Environment=${k}=${v}`);
  return `${lines.join("\n")}\n\n[Install]\nWantedBy=multi-user.target default.target\n`;
}

export const containerProvider: AppProvider = {
  async install(ctx, app) {
    for (const f of app.spec.inline ?? []) ctx.fs.write(posix.join(DIR, app.id, inlinePath(app, f)), decodeContent(f), { mode: 0o644 });
    ctx.fs.write(`${DIR}/${app.id}/${app.id}.container`, containerQuadlet(app.spec));
  },
  async start(ctx, app) {
    await must(ctx, app.name, "systemctl", ["daemon-reload"]);
    await must(ctx, app.name, "systemctl", ["restart", `${app.id}.service`]);
  },
  async stop(ctx, app) {
    await must(ctx, app.name, "systemctl", ["stop", `${app.id}.service`]);
  },
  async restart(ctx, app) {
    await must(ctx, app.name, "systemctl", ["restart", `${app.id}.service`]);
  },
  async remove(ctx, app) {
    await must(ctx, app.name, "systemctl", ["stop", `${app.id}.target`]);
    ctx.fs.remove(`${DIR}/${app.id}`);
  },
};
