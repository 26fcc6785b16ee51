// flightctl rollout status fleet/<name>: the rollout's progress per batch, redrawn until it completes
// (exit 0), is suspended (exit 1) or --timeout passes.
import { defineCommand } from "citty";
import type { JsonObject } from "@bufbuild/protobuf";
import { globalArgs } from "../config.js";
import { ResourceError, UsageError } from "../errors.js";
import { lookupKind, parseTargets } from "../kinds.js";
import { api } from "../resources.js";
import { planRows, renderView, rolloutView, type PlannedBatch } from "../rollout-view.js";
import { session } from "../transport.js";

const status = defineCommand({
  meta: {
    name: "status",
    description: [
      "Show a fleet's rollout, batch by batch, until it is done.",
      "",
      "  flightctl rollout status fleet/lab",
      "  flightctl rollout status fleet/lab --no-watch     # print once",
      "  flightctl rollout status fleet/lab --timeout 10m",
    ].join("\n"),
  },
  args: {
    ...globalArgs,
    fleet: { type: "positional", required: true, description: "fleet/NAME" },
    watch: {
      type: "boolean",
      alias: "w",
      default: true,
      description: "Keep watching until the rollout completes",
      negativeDescription: "Print the status once",
    },
    interval: { type: "string", description: "Seconds between refreshes (default 2)" },
    timeout: { type: "string", description: "Give up after this long, e.g. 10m (default: no limit)" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (kind !== lookupKind("fleet") || names.length !== 1) throw new UsageError("rollout status takes one fleet: fleet/<name>");
    const name = names[0];
    const s = await session(args);
    const fleets = await api(s, kind);
    const devices = await api(s, lookupKind("device"));
    const interval = Number(args.interval ?? 2) * 1000;
    const deadline = args.timeout ? Date.now() + parseTimeout(args.timeout) : Infinity;
    const tty = process.stdout.isTTY;
    let last = "";
    let shownLines = 0;
    for (;;) {
      const fleet = await fleets.get(name);
      let plan: { name: string; devices: string[] }[] = [];
      try {
        plan = (
          (await fleets.client.planFleetRollout({ name, orgId: s.org })) as unknown as { batches: { name: string; devices: string[] }[] }
        ).batches;
      } catch (e) {
        throw new ResourceError(`fleet/${name}`, e);
      }
      const owned: JsonObject[] = [];
      let token: string | undefined;
      do {
        const page = await devices.list({ fieldSelector: `metadata.owner=Fleet/${name}`, limit: 1000, continueToken: token });
        owned.push(...page.items);
        token = page.next;
      } while (token);
      const view = rolloutView(fleet, owned, plan);
      const text = renderView(name, view);
      if (text !== last) {
        if (tty && shownLines) process.stdout.write(`\x1b[${shownLines}A\x1b[J`);
        process.stdout.write(text);
        shownLines = text.split("\n").length - 1;
        last = text;
      }
      if (view.suspended)
        throw new UsageError(
          `the rollout of fleet/${name} is suspended: ${view.condition?.message || "a batch fell below its success threshold"}`,
        );
      if (view.done) return void process.stdout.write(`fleet/${name}: rollout of ${view.templateVersion || "its template"} complete\n`);
      if (!args.watch) return;
      if (Date.now() > deadline) throw new UsageError(`fleet/${name}: the rollout did not complete within ${args.timeout}`);
      await new Promise((r) => setTimeout(r, interval));
    }
  },
});

const plan = defineCommand({
  meta: {
    name: "plan",
    description:
      "What a rollout of the fleet's current template would do (FleetService.PlanFleetRollout; writes nothing).\n\n  flightctl rollout plan fleet/lab\n  flightctl rollout plan fleet/lab -o yaml",
  },
  args: {
    ...globalArgs,
    fleet: { type: "positional", required: true, description: "fleet/NAME" },
    output: { type: "string", alias: "o", description: "yaml or json (default: a table of batches)" },
  },
  async run({ args }) {
    const { kind, names } = parseTargets(args._);
    if (kind !== lookupKind("fleet") || names.length !== 1) throw new UsageError("rollout plan takes one fleet: fleet/<name>");
    const s = await session(args);
    const fleets = await api(s, kind);
    const [{ toJson }, { PlanFleetRolloutResponseSchema }, out] = await Promise.all([
      import("@bufbuild/protobuf"),
      import("../../gen/flightctl/v1beta1/fleet_service_pb.js"),
      import("../output.js"),
    ]);
    let res: JsonObject;
    try {
      res = toJson(
        PlanFleetRolloutResponseSchema,
        (await fleets.client.planFleetRollout({ name: names[0], orgId: s.org })) as never,
      ) as JsonObject;
    } catch (e) {
      throw new ResourceError(`fleet/${names[0]}`, e);
    }
    if (args.output === "json") return void process.stdout.write(out.toJsonText(res));
    if (args.output === "yaml") return void process.stdout.write(await out.toYaml(res));
    if (args.output) throw new UsageError(`-o must be yaml or json, got "${args.output}"`);
    const { rows, empty } = planRows((res.batches ?? []) as PlannedBatch[]);
    process.stdout.write(`template version ${String(res.templateVersion ?? "(none yet)")}\n`);
    if (rows.length) process.stdout.write(out.table(["BATCH", "NAME", "DEVICES", "SUCCESS THRESHOLD"], rows));
    else process.stdout.write("no device would be updated\n");
    if (empty.length)
      process.stdout.write(
        `${empty.length === 1 ? "batch" : "batches"} ${empty.join(", ")} of the policy select no device now (e.g. a percentage of too few devices) and are passed over\n`,
      );
    const skipped = (res.notSelected ?? []) as string[];
    if (skipped.length) process.stdout.write(`not selected by any batch (disconnected): ${skipped.length}\n`);
    if (res.selectionPending)
      process.stdout.write("the fleet's devices are still being selected: this plan may change, run it again in a moment\n");
  },
});

function parseTimeout(v: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v);
  if (!m) throw new UsageError(`--timeout "${v}": use e.g. 90s, 10m or 1h`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
}

export default defineCommand({
  meta: {
    name: "rollout",
    description: "Plan and follow fleet rollouts.\n\n  flightctl rollout plan fleet/lab\n  flightctl rollout status fleet/lab",
  },
  subCommands: { status, plan },
});
