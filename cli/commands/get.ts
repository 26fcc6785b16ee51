// flightctl get: one resource, several, or a list (every page, fetched through `continue`), as a table, YAML,
// JSON or names; --watch follows changes on the kind's Watch stream.
import { defineCommand } from "citty";
import type { JsonObject } from "@bufbuild/protobuf";
import { globalArgs, type GlobalOptions } from "../config.js";
import { UsageError } from "../errors.js";
import { kindNamesHelp, parseTargets } from "../kinds.js";
import { columns, devicesSummary, names, parseOutput, table, toJsonText, toYaml, type Output } from "../output.js";
import { api, requireMethod } from "../resources.js";
import { session } from "../transport.js";
import { ALERT_NAMES } from "../alerts.js";

/** Page size used while collecting a list (the service's maximum). */
const PAGE = 1000;

export const getArgs = {
  ...globalArgs,
  target: {
    type: "positional",
    required: false,
    description: `TYPE, TYPE/NAME… or TYPE NAME…; types: ${kindNamesHelp}; also alerts (firing alerts, not a resource)`,
  },
  output: { type: "string", alias: "o", description: "Output format: yaml, json, wide or name (default: a table)" },
  selector: { type: "string", alias: "l", description: 'Label selector, e.g. "site=lab,tier in (edge,core)"' },
  "field-selector": { type: "string", description: 'Field selector, e.g. "status.summary.status=Online"' },
  limit: { type: "string", description: "Return at most this many resources (pages are fetched as needed)" },
  continue: { type: "string", description: "Continue a previous limited listing from this token" },
  summary: { type: "boolean", alias: "s", description: "Devices: add the status summary; fleets: add the device count" },
  "summary-only": { type: "boolean", description: "Devices: print only the status summary" },
  fleetname: { type: "string", description: "Fleet of the template versions; alerts: the fleet's and its devices' alerts" },
  alertname: { type: "string", description: "Alerts: only those of this rule, e.g. DeviceDisconnected" },
  resource: { type: "string", description: "Alerts: only those about device/NAME, fleet/NAME or NAME" },
  "sort-by": { type: "string", description: "Order the listing by name, lastSeen or creationTimestamp (oldest first)" },
  "last-seen-within": { type: "string", description: "Devices seen in the last DURATION, e.g. 10m (a lastSeen field selector)" },
  "last-seen-before": {
    type: "string",
    description: "Devices last seen longer than DURATION ago, e.g. 1h (never-seen ones: --field-selector '!lastSeen')",
  },
  rendered: {
    type: "boolean",
    description: "Devices: print the rendered device (what the agent receives) as yaml or json (-o)",
  },
  watch: {
    type: "boolean",
    alias: "w",
    description: "After printing, follow changes (devices, fleets, enrollmentrequests, repositories, resourcesyncs, events)",
  },
} as const;

export default defineCommand({
  meta: {
    name: "get",
    description: [
      "Display one or many resources.",
      "",
      "  flightctl get devices",
      "  flightctl get devices -l site=lab --field-selector status.summary.status=Online -o wide",
      "  flightctl get device/my-device -o yaml",
      "  flightctl get device/my-device --rendered -o json",
      "  flightctl get fleets --summary",
      "  flightctl get templateversions --fleetname my-fleet",
      "  flightctl get devices --limit 10 -o name",
      "  flightctl get devices --watch",
      "  flightctl get devices --last-seen-before 10m --sort-by lastSeen",
      "  flightctl get alerts --fleetname my-fleet -o wide",
    ].join("\n"),
  },
  args: getArgs,
  async run({ args }) {
    if (args._.length > 0 && ALERT_NAMES.includes(args._[0].toLowerCase())) return getAlerts(args);
    const { kind, names: wanted } = parseTargets(args._);
    const output = parseOutput(args.output);
    const limit = args.limit === undefined ? undefined : Number(args.limit);
    if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
      throw new UsageError(`--limit must be a positive integer, got "${args.limit}"`);
    if (wanted.length > 0 && (args.selector || args["field-selector"] || args.limit)) {
      throw new UsageError("selectors and --limit apply to lists: give a TYPE without names");
    }
    if ((args["last-seen-within"] || args["last-seen-before"]) && kind.kind !== "Device")
      throw new UsageError("--last-seen-within and --last-seen-before apply to devices");
    if (args["sort-by"] && args.watch) throw new UsageError("--sort-by orders a listing; it does not go with --watch");
    const { sortItems, withLastSeen } = await import("../last-seen.js");
    const fieldSelector = withLastSeen(args["field-selector"], { within: args["last-seen-within"], before: args["last-seen-before"] });
    if (fieldSelector !== args["field-selector"] && wanted.length > 0)
      throw new UsageError("--last-seen-* filter lists: give a TYPE without names");
    if (args.rendered) {
      if (kind.kind !== "Device" || wanted.length !== 1) throw new UsageError("--rendered shows one device: device/<name>");
      if (args.watch) throw new UsageError("--rendered does not go with --watch");
      if (output !== "json" && output !== "yaml" && output !== "table")
        throw new UsageError(`--rendered prints yaml or json, not "${args.output}"`);
    }
    const s = await session(args);
    const a = await api(s, kind, args.fleetname);
    if (args.rendered) return void process.stdout.write(await renderedDevice(s.org, a, wanted[0], output === "json" ? "json" : "yaml"));
    let lastItems: JsonObject[] = [];
    const fleetSummary = kind.kind === "Fleet" && args.summary;
    const print = (items: JsonObject[], single: boolean, list?: JsonObject) =>
      render(kind.kind, output, items, single, { summary: fleetSummary, list });

    if (kind.kind === "Device" && args["summary-only"]) {
      const res = await a.list({ labelSelector: args.selector, fieldSelector, extra: { summaryOnly: true } });
      return void process.stdout.write(
        output === "json" || output === "yaml"
          ? await format(output, await summaryJson(res.raw))
          : devicesSummary(await summaryJson(res.raw)),
      );
    }
    if (wanted.length > 0) {
      const items = fleetSummary
        ? await Promise.all(wanted.map((n) => a.get(n, { addDevicesSummary: true })))
        : await Promise.all(wanted.map((n) => a.get(n)));
      lastItems = args["sort-by"] ? sortItems(items, args["sort-by"]) : items;
      process.stdout.write(await print(lastItems, wanted.length === 1));
    } else {
      const items: JsonObject[] = (lastItems = []);
      let token = args.continue;
      let remaining: number | undefined;
      do {
        const pageSize = limit ? Math.min(PAGE, limit - items.length) : PAGE;
        const page = await a.list({
          labelSelector: args.selector,
          fieldSelector,
          limit: pageSize,
          continueToken: token,
          extra: fleetSummary ? { addDevicesSummary: true } : undefined,
        });
        items.push(...page.items);
        token = page.next;
        remaining = page.remaining;
      } while (token && (!limit || items.length < limit));
      if (args["sort-by"]) items.splice(0, items.length, ...sortItems(items, args["sort-by"]));
      process.stdout.write(
        await print(items, false, {
          apiVersion: "v1beta1",
          kind: `${kind.kind}List`,
          metadata: token ? { continue: token, remainingItemCount: remaining ?? 0 } : {},
          items,
        }),
      );
      if (token && output !== "json" && output !== "yaml") {
        process.stderr.write(`${remaining ?? "more"} more; continue with --continue ${token}\n`);
      }
      if (kind.kind === "Device" && args.summary) {
        const res = await a.list({ labelSelector: args.selector, fieldSelector, extra: { summaryOnly: true } });
        process.stdout.write(`\n${devicesSummary(await summaryJson(res.raw))}`);
      }
    }
    if (args.watch) {
      const { watch } = await import("../watch.js");
      await watch(
        s,
        kind,
        { labelSelector: args.selector, fieldSelector, names: wanted, listed: lastItems },
        async (items) =>
          void process.stdout.write(
            `${output === "yaml" ? "---\n" : ""}${await render(kind.kind, output, items, true, { summary: fleetSummary, noHeaders: true })}`,
          ),
      );
    }
  },
});

/** flightctl get alerts [--alertname A] [--fleetname F] [--resource device/NAME] [-o json|yaml|wide]. */
async function getAlerts(
  args: GlobalOptions & { _: string[]; output?: string; alertname?: string; fleetname?: string; resource?: string } & Record<
      string,
      unknown
    >,
) {
  if (args._.length > 1) throw new UsageError("alerts are listed, not named: filter with --alertname, --fleetname or --resource");
  for (const flag of ["selector", "field-selector", "limit", "continue", "watch", "rendered", "sort-by", "summary"]) {
    if (args[flag]) throw new UsageError(`--${flag} does not apply to alerts (filters: --alertname, --fleetname, --resource)`);
  }
  const output = parseOutput(args.output);
  const { printAlerts } = await import("../alerts.js");
  await printAlerts(await session(args), output, args);
}

/** The rendered device (DeviceService.GetRenderedDevice) in flightctl's JSON, as yaml or json. */
async function renderedDevice(org: string, a: Awaited<ReturnType<typeof api>>, name: string, o: "json" | "yaml") {
  const { toJson } = await import("@bufbuild/protobuf");
  const { DeviceSchema } = await import("../../gen/flightctl/v1beta1/device_pb.js");
  const { ResourceError } = await import("../errors.js");
  let res: { device?: object };
  try {
    res = (await requireMethod(a, "getRenderedDevice")({ name, orgId: org })) as { device?: object };
  } catch (e) {
    throw new ResourceError(`device/${name}`, e);
  }
  return format(o, toJson(DeviceSchema, res.device as never) as JsonObject);
}

async function summaryJson(raw: JsonObject): Promise<JsonObject> {
  const { toJson } = await import("@bufbuild/protobuf");
  const { DevicesSummarySchema } = await import("../../gen/flightctl/v1beta1/device_pb.js");
  const s = (raw as unknown as { summary?: object }).summary;
  return s ? (toJson(DevicesSummarySchema, s as never) as JsonObject) : { total: 0 };
}

const format = async (o: "json" | "yaml", v: JsonObject) => (o === "json" ? toJsonText(v) : await toYaml(v));

/** Text for items: a table (with header unless `single` rows follow a watch), YAML/JSON of one or a list, names. */
export async function render(
  kind: string,
  output: Output,
  items: JsonObject[],
  single: boolean,
  opts: { summary?: boolean; list?: JsonObject; noHeaders?: boolean } = {},
): Promise<string> {
  switch (output) {
    case "json":
    case "yaml":
      return format(
        output,
        single && items.length === 1 ? items[0] : (opts.list ?? { apiVersion: "v1beta1", kind: `${kind}List`, metadata: {}, items }),
      );
    case "name":
      return names(kind, items);
    default: {
      const c = columns(kind, { wide: output === "wide", summary: opts.summary });
      return table(
        opts.noHeaders ? undefined : c.headers,
        items.map((o) => c.row(o)),
      );
    }
  }
}
