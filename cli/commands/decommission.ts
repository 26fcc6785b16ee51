// flightctl decommission: ask a device to unenroll (DeviceService.DecommissionDevice); the agent wipes its
// management identity and the device ends Decommissioned.
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { ResourceError, UsageError } from "../errors.js";
import { lookupKind, parseTargets } from "../kinds.js";
import { api, requireMethod } from "../resources.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "decommission",
    description:
      "Decommission devices (they unenroll and stop being managed).\n\n  flightctl decommission device/my-device\n  flightctl decommission devices a b -t unenroll",
  },
  args: {
    ...globalArgs,
    device: { type: "positional", required: true, description: "device/NAME… or devices NAME…" },
    target: { type: "string", alias: "t", description: "What the device does: unenroll (default)" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (kind !== lookupKind("device") || names.length === 0) throw new UsageError("decommission devices: device/<name>");
    const target = String(args.target ?? "unenroll").toLowerCase();
    if (target !== "unenroll") throw new UsageError(`--target "${target}" is not supported; use unenroll`);
    const s = await session(args);
    const a = await api(s, kind);
    const call = requireMethod(a, "decommissionDevice");
    for (const name of names) {
      try {
        await call({ name, orgId: s.org, decommission: { target: "Unenroll" } });
      } catch (e) {
        throw new ResourceError(`device/${name}`, e);
      }
      process.stdout.write(`device/${name} decommissioning\n`);
    }
  },
});
