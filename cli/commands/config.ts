// flightctl config: which organization commands address by default.
import { defineCommand } from "citty";
import { globalArgs, readConfig, writeConfig } from "../config.js";
import { UsageError } from "../errors.js";
import { session } from "../transport.js";

const current = defineCommand({
  meta: { name: "current-organization", description: "Print the current organization.\n\n  flightctl config current-organization" },
  args: { ...globalArgs },
  async run({ args }) {
    const cfg = await readConfig(args);
    process.stdout.write(`${cfg.organization || "(none: the server picks your default organization)"}\n`);
  },
});

const use = defineCommand({
  meta: {
    name: "use-organization",
    alias: "set-organization",
    description:
      'Make an organization the default for later commands (checked against your organizations).\n\n  flightctl config use-organization 00000000-0000-0000-0000-000000000000\n  flightctl config use-organization ""   # back to the server\'s default',
  },
  args: { ...globalArgs, id: { type: "positional", required: true, description: "Organization id (see flightctl get organizations)" } },
  async run({ args }) {
    const cfg = await readConfig(args);
    if (args.id) {
      const s = await session(args);
      const { OrganizationService } = await import("../../gen/flightctl/v1beta1/organization_service_pb.js");
      const list = await s.client(OrganizationService).listOrganizations({});
      const ids = list.items.map((o) => o.metadata?.name ?? "");
      if (!ids.includes(args.id)) {
        throw new UsageError(
          `you are not a member of organization "${args.id}"; yours: ${ids.join(", ") || "(none)"} (flightctl get organizations)`,
        );
      }
    }
    cfg.organization = args.id || undefined;
    await writeConfig(args, cfg);
    process.stdout.write(args.id ? `Current organization: ${args.id}\n` : "Current organization cleared.\n");
  },
});

export default defineCommand({
  meta: {
    name: "config",
    description:
      "Show or change the client configuration.\n\n  flightctl config current-organization\n  flightctl config use-organization <id>",
  },
  subCommands: { "current-organization": current, "use-organization": use, "set-organization": use },
});
