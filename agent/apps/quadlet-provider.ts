// quadlet applications, as the agent had them before the providers: the inline files in /etc/containers/systemd/<id>/,
// the app's image pulled, and systemd acting on <id>.service. (Being rewritten with podman's unit naming rules.)
import { posix } from "node:path";
import { decodeContent, inlinePath } from "./app-id.js";
import { must } from "./must.js";
import type { AppProvider } from "./provider.js";

const DIR = "/etc/containers/systemd";

export const quadletProvider: AppProvider = {
  async install(ctx, app) {
    for (const f of app.spec.inline ?? []) ctx.fs.write(posix.join(DIR, app.id, inlinePath(app, f)), decodeContent(f), { mode: 0o644 });
    if (app.spec.image) await must(ctx, app.name, "podman", ["pull", String(app.spec.image)]);
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
