// flightctl delete: by name (TYPE NAME…, TYPE/NAME…) or every resource of a type matching a selector.
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { describe, UsageError } from "../errors.js";
import { kindNamesHelp, parseTargets } from "../kinds.js";
import { api } from "../resources.js";
import { session } from "../transport.js";

const CONCURRENCY = 16;

export default defineCommand({
  meta: {
    name: "delete",
    description: [
      "Delete resources by name or by selector.",
      "",
      "  flightctl delete device/my-device",
      "  flightctl delete fleets lab-a lab-b",
      "  flightctl delete devices -l site=lab",
      "  flightctl delete templateversion/v1 --fleetname my-fleet",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    target: { type: "positional", required: true, description: `TYPE/NAME…, TYPE NAME… or TYPE with a selector; types: ${kindNamesHelp}` },
    selector: { type: "string", alias: "l", description: "Delete every resource of the type matching this label selector" },
    "field-selector": { type: "string", description: "Delete every resource of the type matching this field selector" },
    fleetname: { type: "string", description: "Fleet of the template versions" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    const bySelector = !!(args.selector || args["field-selector"]);
    if (names.length === 0 && !bySelector)
      throw new UsageError(`name what to delete: ${kind.names[0]}/<name>, or select with -l / --field-selector`);
    if (names.length > 0 && bySelector) throw new UsageError("give names or a selector, not both");
    const s = await session(args);
    const a = await api(s, kind, args.fleetname);
    const targets = [...names];
    if (bySelector) {
      let token: string | undefined;
      do {
        const page = await a.list({
          labelSelector: args.selector,
          fieldSelector: args["field-selector"],
          limit: 1000,
          continueToken: token,
        });
        targets.push(...page.items.map((o) => String((o.metadata as { name: string }).name)));
        token = page.next;
      } while (token);
      if (targets.length === 0) return void process.stdout.write(`No ${kind.names[1]} match.\n`);
    }
    let failed = 0;
    let next = 0;
    // A few deletions in flight: a selector may match thousands.
    await Promise.all(
      Array.from({ length: Math.min(CONCURRENCY, targets.length) }, async () => {
        while (next < targets.length) {
          const name = targets[next++];
          try {
            await a.remove(name);
            process.stdout.write(`${kind.kind.toLowerCase()}/${name} deleted\n`);
          } catch (e) {
            failed++;
            process.stderr.write(`Error: ${describe(e)}\n`);
          }
        }
      }),
    );
    if (failed) throw new UsageError(`${failed} of ${targets.length} deletions failed`);
  },
});
