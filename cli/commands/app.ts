// flightctl app start|stop|restart: flightctl's application actions on one application of a device
// (Start/Stop/RestartDeviceApplication) or of a fleet's template (Start/StopFleetApplication). The service records
// the override and re-renders; the agent then starts, stops or restarts the application.
import { defineCommand } from "citty";
import { globalArgs } from "../config.js";
import { ResourceError, UsageError } from "../errors.js";
import { lookupKind, parseTargets } from "../kinds.js";
import { api, requireMethod } from "../resources.js";
import { session } from "../transport.js";

const ACTIONS = ["start", "stop", "restart"] as const;
type Action = (typeof ACTIONS)[number];

const PAST: Record<Action, string> = { start: "start requested", stop: "stop requested", restart: "restart requested" };

export default defineCommand({
  meta: {
    name: "app",
    description: [
      "Start, stop or restart an application of a device, or start or stop it on every device of a fleet.",
      "",
      "  flightctl app stop device/my-device web",
      "  flightctl app restart device/my-device web",
      "  flightctl app start fleet/my-fleet web",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    action: { type: "positional", required: true, description: "start, stop or restart (restart: devices only)" },
    target: { type: "positional", required: true, description: "device/NAME or fleet/NAME" },
    application: { type: "positional", required: true, description: "The application's name (or its image, if unnamed)" },
  },
  async run({ args }) {
    const [action, ...rest] = args._.map(String);
    if (!(ACTIONS as readonly string[]).includes(action))
      throw new UsageError(`unknown action "${action}"; use one of ${ACTIONS.join(", ")}`);
    const app = rest.pop();
    const { kind, names } = parseTargets(rest);
    const isDevice = kind === lookupKind("device");
    if ((!isDevice && kind !== lookupKind("fleet")) || names.length !== 1 || !app)
      throw new UsageError(`app ${action}: device/<name> <application> or fleet/<name> <application>`);
    if (!isDevice && action === "restart") throw new UsageError("restart applies to one device's application: device/<name>");
    const s = await session(args);
    const a = await api(s, kind);
    const method = `${action}${isDevice ? "Device" : "Fleet"}Application`;
    const call = requireMethod(a, method);
    const target = `${isDevice ? "device" : "fleet"}/${names[0]}`;
    try {
      await call({ name: names[0], appName: app, orgId: s.org });
    } catch (e) {
      throw new ResourceError(target, e);
    }
    process.stdout.write(`${target}: application "${app}" ${PAST[action as Action]}\n`);
  },
});
