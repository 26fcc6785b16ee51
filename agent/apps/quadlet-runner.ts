// Who runs an installed quadlet app. On a device with systemd and podman's quadlet generator (podman ≥ 4.4), systemd
// does: the agent reloads it so the generator turns the files into units, then starts, stops and restarts those units
// by the names the generator gives them. On a host without either (no systemd as PID 1, or an older podman such as
// Debian's 4.3), the agent runs what the files describe with podman itself (quadlet-podman.ts), under the names
// quadlet would give the objects, so status, actions and removal find the same things either way. The choice is
// made per host in quadlet-install.ts.
import { ApplyError } from "../apply-error.js";
import type { AppContext } from "./provider.js";

/** An installed quadlet app as the runners see it. */
export interface QuadletApp {
  /** The spec's name (errors name it). */
  name: string;
  id: string;
  /** Device directory holding the installed (namespaced) files. */
  dir: string;
  /** Quadlet files and the units the generator makes of them, in start order. */
  units: { file: string; unit: string }[];
  /** <id>-flightctl-quadlet-app.target */
  target: string;
  /** runAs, when not root: systemd's user instance of that user runs the units. */
  user?: string;
}

export interface QuadletRunner {
  readonly kind: "systemd" | "podman";
  /** Throws ApplyError when the runner cannot run `files` (about to be installed for `app`). */
  check(ctx: AppContext, app: QuadletApp, files: Map<string, string | Buffer>): void;
  /** After the app's files were written or removed (systemd re-runs the generator). */
  reload(ctx: AppContext, app: QuadletApp): Promise<void>;
  start(ctx: AppContext, app: QuadletApp): Promise<void>;
  /** Stops what runs; quadlet's containers are removed when their unit stops, volumes and networks stay. */
  stop(ctx: AppContext, app: QuadletApp): Promise<void>;
  restart(ctx: AppContext, app: QuadletApp): Promise<void>;
}

/** systemctl's exit code for "unit not loaded": stopping what systemd does not know is already done. */
const NOT_LOADED = 5;

async function systemctl(ctx: AppContext, app: QuadletApp, args: string[], hint = "", okCodes: number[] = []): Promise<void> {
  // A rootless app's units are in its user's systemd instance (which lingering keeps running).
  const scope = app.user ? ["--user", "-M", `${app.user}@`] : [];
  const r = await ctx.exec.run("systemctl", [...scope, ...args]);
  if (r.code !== 0 && !okCodes.includes(r.code)) {
    const why = (r.stderr || r.stdout).trim();
    // The units are named in systemd's own message; the error keeps to what fits a status message.
    throw new ApplyError("apps", app.name, `systemctl ${args[0]} failed (${r.code}): ${why.slice(0, 150)}${hint}`);
  }
}

const GENERATOR_HINT = " (a unit not found: podman's quadlet generator refused its file, see journalctl -t quadlet-generator)";

/** systemd and the quadlet generator: the units are started together with the app's target, which wants them all. */
export const systemdRunner: QuadletRunner = {
  kind: "systemd",
  // podman's generator is the judge of the files; its verdict shows when the units are started.
  check: () => undefined,
  reload: (ctx, app) => systemctl(ctx, app, ["daemon-reload"]),
  start: (ctx, app) => systemctl(ctx, app, ["start", ...app.units.map((u) => u.unit), app.target], GENERATOR_HINT),
  async stop(ctx, app) {
    const units = app.units.map((u) => u.unit);
    await systemctl(ctx, app, ["stop", app.target, ...units], "", [NOT_LOADED]);
    // Units that exited non-zero on stop would otherwise linger as failed (flightctl clears them the same way).
    await systemctl(ctx, app, ["reset-failed", ...units]).catch(() => undefined);
  },
  restart: (ctx, app) => systemctl(ctx, app, ["restart", ...app.units.map((u) => u.unit)], GENERATOR_HINT),
};
