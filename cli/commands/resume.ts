// flightctl resume: let devices paused on a spec conflict (ConflictPaused) receive updates again
// (DeviceService.ResumeDevices), by name or by selector.
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { UsageError } from "../errors.js";
import { lookupKind, parseTargets } from "../kinds.js";
import { api, requireMethod } from "../resources.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "resume",
    description: [
      "Resume devices paused after a conflict.",
      "",
      "  flightctl resume device/my-device",
      "  flightctl resume devices -l site=lab",
      "  flightctl resume devices --field-selector status.summary.status=ConflictPaused",
      "  flightctl resume devices --all",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    target: { type: "positional", required: true, description: "device/NAME… or devices with a selector or --all" },
    selector: { type: "string", alias: "l", description: "Label selector" },
    "field-selector": { type: "string", description: "Field selector" },
    all: { type: "boolean", description: "Every paused device" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (kind !== lookupKind("device")) throw new UsageError("resume applies to devices");
    const bySelector = !!(args.selector || args["field-selector"] || args.all);
    if (names.length === 0 && !bySelector)
      throw new UsageError("name devices (device/<name>) or select them with -l, --field-selector or --all");
    if (names.length > 0 && bySelector) throw new UsageError("give names or a selector, not both");
    const s = await session(args);
    const call = requireMethod(await api(s, kind), "resumeDevices");
    const requests = names.length
      ? names.map((n) => ({ fieldSelector: `metadata.name=${n}` }))
      : [{ labelSelector: args.selector ?? "", fieldSelector: args["field-selector"] ?? "" }];
    let total = 0;
    for (const r of requests)
      total += Number(((await call({ orgId: s.org, ...r })) as unknown as { resumedDevices?: number }).resumedDevices ?? 0);
    process.stdout.write(`Resumed ${total} device${total === 1 ? "" : "s"}.\n`);
  },
});
