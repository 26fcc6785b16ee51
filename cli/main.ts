// flightctl: the command line of Flight Control. Each verb lives in cli/commands/<verb>.ts and is imported only
// when it runs, so `flightctl version` does not initialise apply's YAML parsing or get's tables.
import { defineCommand, runCommand, type CommandDef } from "citty";
import { stripVTControlCharacters } from "node:util";
import { fail, UsageError } from "./errors.js";
import { renderHelp } from "./help.js";

import { CLIENT_VERSION } from "./version-info.js";

const verb = (load: () => Promise<{ default: CommandDef<any> }>) => () => load().then((m) => m.default);

export const main = defineCommand({
  meta: {
    name: "flightctl",
    version: CLIENT_VERSION,
    description:
      'Manage Flight Control devices and fleets.\n\n  flightctl login https://localhost:3443 --certificate-authority .data/certs/ca.crt -u admin\n  flightctl get devices -l site=lab\n  flightctl apply -f fleet.yaml\n\nRun "flightctl <command> --help" for a command\'s flags and examples.',
  },
  subCommands: {
    login: verb(() => import("./commands/login.js")),
    logout: verb(() => import("./commands/logout.js")),
    config: verb(() => import("./commands/config.js")),
    version: verb(() => import("./commands/version.js")),
    get: verb(() => import("./commands/get.js")),
    describe: verb(() => import("./commands/describe.js")),
    apply: verb(() => import("./commands/apply.js")),
    edit: verb(() => import("./commands/edit.js")),
    patch: verb(() => import("./commands/patch.js")),
    delete: verb(() => import("./commands/delete.js")),
    approve: verb(() => import("./commands/approve.js")),
    deny: verb(() => import("./commands/deny.js")),
    decommission: verb(() => import("./commands/decommission.js")),
    resume: verb(() => import("./commands/resume.js")),
    certificate: verb(() => import("./commands/certificate.js")),
    enrollmentconfig: verb(() => import("./commands/enrollmentconfig.js")),
    rollout: verb(() => import("./commands/rollout.js")),
    completion: verb(() => import("./commands/completion.js")),
    console: verb(() => import("./commands/console.js")),
    app: verb(() => import("./commands/app.js")),
  },
});

/** Runs the CLI: usage on --help, one actionable message and exit code 1 on any failure. */
export async function run(rawArgs = process.argv.slice(2)): Promise<void> {
  try {
    if (rawArgs.length === 0) return void process.stdout.write(await renderHelp([main]));
    if (rawArgs.includes("--help") || rawArgs.includes("-h")) {
      const path: CommandDef<any>[] = [main];
      for (const a of rawArgs) {
        const subs = (await resolve(path.at(-1)!.subCommands)) as Record<string, unknown> | undefined;
        if (!subs || !(a in subs)) break;
        path.push((await resolve(subs[a])) as CommandDef<any>);
      }
      return void process.stdout.write(await renderHelp(path));
    }
    if (rawArgs[0] === "--version") return void process.stdout.write(`${CLIENT_VERSION}\n`);
    const subs = (await resolve(main.subCommands)) as Record<string, unknown>;
    if (!rawArgs[0].startsWith("-") && !(rawArgs[0] in subs)) {
      throw new UsageError(`unknown command "${rawArgs[0]}"; commands: ${Object.keys(subs).join(", ")}. See "flightctl --help"`);
    }
    await runCommand(main, { rawArgs });
  } catch (e) {
    // citty's argument errors (by name: the minified bundle renames classes).
    // citty colours parts of its messages whatever the output is: the colour codes are dropped.
    if (e instanceof Error && e.name === "CLIError")
      fail(new UsageError(`${stripVTControlCharacters(e.message)}. See "flightctl ${rawArgs[0] ?? ""} --help"`));
    fail(e);
  }
}

async function resolve(v: unknown): Promise<unknown> {
  return typeof v === "function" ? await (v as () => unknown)() : await v;
}
