// flightctl describe TYPE/NAME: a resource's key facts, conditions, owner, versions and its recent events (ListEvents
// with a field selector on the involved object), as kubectl describe shows them.
import { defineCommand } from "citty";
import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { globalArgs } from "../config.js";
import { UsageError } from "../errors.js";
import { kindNamesHelp, lookupKind, parseTargets } from "../kinds.js";
import { renderDescribe } from "../describe-view.js";
import { api } from "../resources.js";
import { session } from "../transport.js";

export default defineCommand({
  meta: {
    name: "describe",
    description: [
      "Show a resource's status, conditions, owner, versions and recent events.",
      "",
      "  flightctl describe device/my-device",
      "  flightctl describe fleet/lab",
      "  flightctl describe device/my-device --events 50",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    target: { type: "positional", required: true, description: `TYPE/NAME…; types: ${kindNamesHelp}` },
    events: { type: "string", description: "How many recent events to show (default 10; 0: none)" },
    fleetname: { type: "string", description: "Fleet of a template version" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (names.length === 0) throw new UsageError(`describe needs names: ${kind.names[0]}/<name>`);
    const limit = args.events === undefined ? 10 : Number(args.events);
    if (!Number.isInteger(limit) || limit < 0) throw new UsageError(`--events must be a whole number, got "${args.events}"`);
    const s = await session(args);
    const a = await api(s, kind, args.fleetname);
    const evApi = limit > 0 && kind.kind !== "Event" ? await api(s, lookupKind("events")) : undefined;
    const out: string[] = [];
    for (const name of names) {
      const o = await a.get(name, kind.kind === "Fleet" ? { addDevicesSummary: true } : undefined);
      let events: JsonObject[] | undefined = [];
      if (evApi) {
        try {
          const selector = `involvedObject.kind=${kind.kind},involvedObject.name=${name}`;
          events = (await evApi.list({ fieldSelector: selector, limit })).items;
        } catch (e) {
          // A viewer without events access still gets the resource.
          if (ConnectError.from(e).code !== Code.PermissionDenied) throw e;
          events = undefined;
        }
      }
      out.push(renderDescribe(kind.kind, o, events));
    }
    process.stdout.write(out.join("\n"));
  },
});
