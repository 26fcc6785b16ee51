// What `rollout status` shows: per batch, how many of its devices run the fleet's template version, failed, or
// are still on their way, computed from the fleet's and its devices' annotations (server/fleets/rollout-tasks.ts).
import type { JsonObject } from "@bufbuild/protobuf";

export interface BatchView {
  name: string;
  total: number;
  updated: number;
  failed: number;
  state: "pending" | "dispatched" | "complete";
}

export interface RolloutView {
  templateVersion: string;
  condition?: { status: string; reason: string; message: string };
  batches: BatchView[];
  /** Rollout finished (RolloutInProgress False, or every device up to date without a managed rollout). */
  done: boolean;
  suspended: boolean;
}

const ann = (o: JsonObject) => ((o.metadata as JsonObject | undefined)?.annotations ?? {}) as Record<string, string>;
const conds = (o: JsonObject) => ((o.status as JsonObject | undefined)?.conditions ?? []) as JsonObject[];

/** `plan` is PlanFleetRollout's batches (names and planned devices); `devices` the fleet's owned devices. */
export function rolloutView(fleet: JsonObject, devices: JsonObject[], plan: { name: string; devices: string[] }[]): RolloutView {
  const a = ann(fleet);
  const tv = a["fleet-controller/deployingTemplateVersion"] ?? a["fleet-controller/templateVersion"] ?? "";
  const current = Number(a["fleet-controller/batchNumber"] ?? "-1");
  const c = conds(fleet).find((x) => x.type === "RolloutInProgress");
  const isUpdated = (d: JsonObject) =>
    ann(d)["fleet-controller/renderedTemplateVersion"] === tv &&
    ((d.status as JsonObject | undefined)?.updated as JsonObject | undefined)?.status === "UpToDate";
  const isFailed = (d: JsonObject) => conds(d).some((x) => x.type === "Updating" && x.reason === "Error");
  const managed = plan.length > 1 || devices.some((d) => ann(d)["fleet-controller/selectedForRollout"]);
  const allUpdated = devices.every(isUpdated);
  const condition = c ? { status: String(c.status), reason: String(c.reason ?? ""), message: String(c.message ?? "") } : undefined;
  const done = condition ? condition.status === "False" : allUpdated;
  // A finished rollout leaves batchNumber on its last batch: the final frame shows every batch complete, not that
  // one still dispatched.
  const stateOf = (i: number): BatchView["state"] => (done || i < current ? "complete" : i === current ? "dispatched" : "pending");
  let batches: BatchView[];
  if (!managed) {
    batches = [
      {
        name: "all devices",
        total: devices.length,
        updated: devices.filter(isUpdated).length,
        failed: devices.filter(isFailed).length,
        state: done ? "complete" : "dispatched",
      },
    ];
  } else {
    batches = plan.map((b, i) => {
      const selected = devices.filter((d) => ann(d)["fleet-controller/selectedForRollout"] === `${tv}/${i}`);
      const state = stateOf(i);
      const members = state === "pending" ? devices.filter((d) => b.devices.includes(String((d.metadata as JsonObject).name))) : selected;
      return {
        name: b.name || `batch ${i + 1}`,
        total: members.length,
        updated: members.filter(isUpdated).length,
        failed: members.filter(isFailed).length,
        state,
      };
    });
  }
  return {
    templateVersion: tv,
    condition,
    batches,
    suspended: condition?.reason === "Suspended",
    done,
  };
}

/** One line per batch with a bar: `batch 1/3 canary  [#####---------------]  5/20 updated, 1 failed  dispatched`. */
export function renderView(fleet: string, v: RolloutView, width = 30): string {
  const head = `fleet/${fleet}: template version ${v.templateVersion || "(none yet)"}${v.condition ? `, rollout ${v.condition.reason || v.condition.status}${v.condition.message ? ` (${v.condition.message})` : ""}` : ""}`;
  const nameWidth = Math.max(...v.batches.map((b) => b.name.length), 0);
  const lines = v.batches.map((b, i) => {
    const filled = b.total ? Math.round(((b.updated + b.failed) / b.total) * width) : b.state === "complete" ? width : 0;
    const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
    return `  ${i + 1}/${v.batches.length} ${b.name.padEnd(nameWidth)}  ${bar}  ${b.updated}/${b.total} updated${b.failed ? `, ${b.failed} failed` : ""}  ${b.state}`;
  });
  return `${head}\n${lines.join("\n")}\n`;
}

export interface PlannedBatch {
  name?: string;
  devices?: string[];
  successThreshold?: number;
}

/**
 * The rows of `rollout plan`: batches that select no device (e.g. 10 % of one device, which rounds to none) are left
 * out, each row keeping its batch's number in the policy; `empty` lists the numbers left out.
 */
export function planRows(batches: PlannedBatch[]): { rows: string[][]; empty: number[] } {
  const rows: string[][] = [];
  const empty: number[] = [];
  for (const [i, b] of batches.entries()) {
    const n = (b.devices ?? []).length;
    if (n === 0) empty.push(i + 1);
    else rows.push([String(i + 1), b.name ?? "", String(n), b.successThreshold === undefined ? "" : `${b.successThreshold}%`]);
  }
  return { rows, empty };
}
