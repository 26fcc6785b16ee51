// compose applications: the files (inline, or the root of an application image) in /etc/compose/manifests/<id>/, run
// as compose project <id> by podman-compose (Debian's podman 4.3 has no `podman compose`; a newer podman's
// `podman compose` is used when podman-compose is not installed). podman-compose labels every container and network
// with the project, so removal finds what the app created whatever the files say now.
import { posix } from "node:path";
import { ApplyError } from "../apply-error.js";
import { decodeContent, inlinePath } from "./app-id.js";
import { composeFiles, parseCompose } from "./compose-spec.js";
import { extractImageFiles } from "./image-files.js";
import { ensureImage, podmanCause } from "./images.js";
import { projectFilter } from "./labels.js";
import type { AppContext, AppProvider, AppRef } from "./provider.js";

export const COMPOSE_DIR = "/etc/compose/manifests";
/** Where an application image is unpacked to be checked before anything of the running app changes. */
const STAGING_DIR = "/var/tmp/flightctl/compose";

export const composeDir = (id: string): string => `${COMPOSE_DIR}/${id}`;

/** podman-compose 1.0.3 and `podman compose` take the same global options (-p, -f) before the command. */
function composeArgv(ctx: AppContext): [string, string[]] {
  return ctx.exec.available("podman-compose") ? ["podman-compose", []] : ["podman", ["compose"]];
}

/** Runs `compose -p <id> -f <file>… <args>` on the files the app directory has now. */
async function compose(ctx: AppContext, app: AppRef, args: string[]) {
  const dir = composeDir(app.id);
  const files = composeFiles(ctx.fs.list(dir));
  const [cmd, pre] = composeArgv(ctx);
  const argv = [...pre, "-p", app.id, ...files.flatMap((f) => ["-f", ctx.fs.real(`${dir}/${f}`)]), ...args];
  const r = await ctx.exec.run(cmd, argv, ctx.fs.exists(dir) ? { cwd: ctx.fs.real(dir) } : {});
  return { ...r, line: `${cmd} ${argv.join(" ")}`, files };
}

async function mustCompose(ctx: AppContext, app: AppRef, args: string[]) {
  const r = await compose(ctx, app, args);
  if (r.files.length === 0) throw new ApplyError("apps", app.name, `no compose file in ${composeDir(app.id)}`);
  if (r.code !== 0) throw new ApplyError("apps", app.name, `compose ${args[0]} failed (${r.code}): ${podmanCause(r.stderr || r.stdout)}`);
  return r;
}

/** The inline files of the spec, by path (checked to stay inside the app directory). */
function inlineFiles(app: AppRef): Map<string, Buffer> {
  return new Map((app.spec.inline ?? []).map((f) => [inlinePath(app, f), decodeContent(f)]));
}

interface PsEntry {
  State?: string;
  Labels?: Record<string, string> | null;
}

/** The project's containers as podman lists them; undefined when podman's answer is not a list (nothing to judge by). */
async function projectContainers(ctx: AppContext, app: AppRef): Promise<PsEntry[] | undefined> {
  const r = await ctx.exec.run("podman", ["ps", "-a", "--filter", projectFilter("compose", app.id), "--format", "json"]);
  if (r.code !== 0) throw new ApplyError("apps", app.name, `podman ps failed (${r.code}): ${podmanCause(r.stderr)}`);
  try {
    const list = JSON.parse(r.stdout) as unknown;
    return Array.isArray(list) ? (list as PsEntry[]) : undefined;
  } catch {
    // The recording executor (simulator) answers nothing: there is no host to look at.
    return undefined;
  }
}

export const composeProvider: AppProvider = {
  /**
   * Everything that can be known wrong before the running app is touched: the files (inline, or unpacked from the
   * pulled application image into a staging directory) parse as compose with services and images, and every image
   * is on the host.
   */
  async verify(ctx, app) {
    let read: (f: string) => Buffer | undefined;
    let names: string[];
    const staging = `${STAGING_DIR}/${app.id}`;
    if (app.spec.image) {
      await ensureImage(ctx, app, app.spec.image);
      names = await extractImageFiles(ctx, app.name, app.spec.image, staging);
      read = (f) => ctx.fs.read(`${staging}/${f}`);
    } else {
      const files = inlineFiles(app);
      names = [...files.keys()];
      read = (f) => files.get(f);
    }
    try {
      const parsed = parseCompose(composeFiles(names), read);
      if ("error" in parsed) throw new ApplyError("apps", app.name, parsed.error);
      for (const image of new Set(parsed.services.values())) await ensureImage(ctx, app, image);
    } finally {
      if (app.spec.image) ctx.fs.remove(staging);
    }
  },

  async install(ctx, app) {
    const dir = composeDir(app.id);
    if (app.spec.image) await extractImageFiles(ctx, app.name, app.spec.image, dir);
    else {
      ctx.fs.remove(dir);
      ctx.fs.mkdir(dir);
      for (const [path, data] of inlineFiles(app)) ctx.fs.write(posix.join(dir, path), data, { mode: 0o644 });
    }
    // flightctl gives a compose app's envVars to compose as its .env file (variables the compose files interpolate).
    const env = Object.entries(app.spec.envVars ?? {});
    if (env.length > 0) ctx.fs.write(`${dir}/.env`, env.map(([k, v]) => `${k}=${v}\n`).join(""), { mode: 0o600 });
  },

  /**
   * `up -d`. podman-compose 1.0.3 answers 0 even when a container cannot start (a port already taken: the
   * container stays "created"), so every service must then have a container that got past "created"; podman's
   * own error is the message.
   */
  async start(ctx, app) {
    const r = await mustCompose(ctx, app, ["up", "-d"]);
    const dir = composeDir(app.id);
    const parsed = parseCompose(r.files, (f) => ctx.fs.read(`${dir}/${f}`));
    if ("error" in parsed) throw new ApplyError("apps", app.name, parsed.error);
    const containers = await projectContainers(ctx, app);
    if (!containers) return;
    const failed = [...parsed.services.keys()].filter((svc) => {
      const mine = containers.filter((c) => c.Labels?.["com.docker.compose.service"] === svc);
      return mine.length === 0 || mine.some((c) => c.State === "created" || c.State === "configured");
    });
    if (failed.length > 0) {
      // `up -d` over stopped containers tries to create them again first ("name … is already in use"): not the cause.
      const noise = /container name ".*" is already in use/;
      const cause =
        podmanCause(
          r.stderr
            .split("\n")
            .filter((l) => !noise.test(l))
            .join("\n"),
        ) || "no container was started";
      throw new ApplyError("apps", app.name, `service ${failed.join(", ")} did not start: ${cause}`);
    }
  },

  /** podman-compose answers 0 whatever its `podman stop`s did: what still runs is read back. */
  async stop(ctx, app) {
    const r = await mustCompose(ctx, app, ["stop"]);
    const running = (await projectContainers(ctx, app))?.filter((c) => c.State === "running") ?? [];
    if (running.length > 0) {
      const names = running.map((c) => c.Labels?.["com.docker.compose.service"] ?? "?").join(", ");
      throw new ApplyError("apps", app.name, `service ${names} did not stop: ${podmanCause(r.stderr) || "still running"}`);
    }
  },

  async restart(ctx, app) {
    await mustCompose(ctx, app, ["restart"]);
  },

  /**
   * `down` by the files the app has, then whatever still carries the project's label (containers of services the
   * files no longer name, ones a failed start left behind, its networks), then the files.
   */
  async remove(ctx, app) {
    const dir = composeDir(app.id);
    if (composeFiles(ctx.fs.list(dir)).length > 0) await compose(ctx, app, ["down"]);
    const filter = projectFilter("compose", app.id);
    const left = await ctx.exec.run("podman", ["ps", "-a", "-q", "--filter", filter]);
    const ids = left.stdout.split("\n").filter(Boolean);
    if (ids.length > 0) {
      const rm = await ctx.exec.run("podman", ["rm", "-f", "-t", "0", ...ids]);
      if (rm.code !== 0) throw new ApplyError("apps", app.name, `cannot remove its containers: ${podmanCause(rm.stderr)}`);
    }
    const nets = await ctx.exec.run("podman", ["network", "ls", "-q", "--filter", filter]);
    const names = nets.stdout.split("\n").filter(Boolean);
    if (names.length > 0) await ctx.exec.run("podman", ["network", "rm", "-f", ...names]);
    ctx.fs.remove(dir);
  },
};
