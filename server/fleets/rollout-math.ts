// Fleet rollout arithmetic (BatchSequence device selection, batch outcomes, disruption budget), as pure functions over
// in-memory device views so the rollout controller and its tests share one definition of "what happens next".
import { invalid } from "../platform/errors.js";
import { labelSelectorFromMessage, type LabelRequirement } from "../platform/selectors/label-selector.js";
import type { BatchJson, DisruptionBudgetJson, RolloutPolicyJson } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { quote } from "../../lib/quote.js";

export interface RolloutDevice {
  name: string;
  labels: Record<string, string>;
  connected: boolean;
  /** Batch it was selected in during this rollout; undefined while not yet selected. */
  selectedBatch?: number;
  /** Reports the target template version (UpToDate). */
  updatedToTarget: boolean;
  /** Updating condition reason Error, or rolled back. */
  failed: boolean;
  /** Rendered the target but not yet UpToDate. */
  updating: boolean;
  /** The rendered spec already is the target template version. */
  renderedTarget: boolean;
}

export interface BudgetDevice {
  name: string;
  labels: Record<string, string>;
  connected: boolean;
  /** Rendered something not yet applied (updating). */
  busy: boolean;
  /** Assigned the target version but not yet released for rendering. */
  pending: boolean;
}

export interface BatchOutcome {
  complete: boolean;
  total: number;
  successful: number;
  failed: number;
  timedOut: number;
  successPercentage: number;
  threshold: number;
  passed: boolean;
}

const POLICY = "spec.rolloutPolicy";
const DEFAULT_THRESHOLD = 90;
const DEFAULT_TIMEOUT = "24h";

/** "N%" (0..100, no leading zeros) as N; anything else is an InvalidArgument naming `field`. */
export function parsePercent(s: string, field: string): number {
  if (!/^(100|[1-9]?[0-9])%$/.test(s)) throw invalid({ field, message: `must be an integer percentage like "90%", got ${quote(s)}` });
  return Number(s.slice(0, -1));
}

/** "N[smh]" as milliseconds; anything else is an InvalidArgument naming `field`. */
export function parseDuration(s: string, field: string): number {
  const m = /^(\d+)([smh])$/.exec(s);
  if (!m) throw invalid({ field, message: `must be an integer duration with unit s, m or h like "24h", got ${quote(s)}` });
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "s" | "m" | "h"];
}

/** Kubernetes semantics: a missing key satisfies only the negative operators (!=, notin, !). Empty list: everything. */
export function matchesRequirements(labels: Record<string, string>, reqs: LabelRequirement[]): boolean {
  return reqs.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = has ? labels[r.key] : undefined;
    switch (r.op) {
      case "=":
      case "in":
        return has && r.values.includes(v!);
      case "!=":
      case "notin":
        return !has || !r.values.includes(v!);
      case "exists":
        return has;
      case "!":
        return !has;
      default:
        return false;
    }
  });
}

const sequence = (policy: RolloutPolicyJson): BatchJson[] => policy.deviceSelection?.sequence ?? [];
const batchPath = (i: number) => `${POLICY}.deviceSelection.sequence[${i}]`;

/**
 * The label keys the policy's batch selectors and budget groups read: a device's other labels cannot change what the
 * rollout does, so the rollout reads only these.
 */
export function policyLabelKeys(policy: RolloutPolicyJson): string[] {
  const keys = new Set(policy.disruptionBudget?.groupBy ?? []);
  for (const b of sequence(policy)) {
    for (const k of Object.keys(b.selector?.matchLabels ?? {})) keys.add(k);
    for (const e of b.selector?.matchExpressions ?? []) keys.add(e.key ?? "");
  }
  return [...keys].sort();
}

/** Explicit batches plus the implicit final batch that takes every remaining device. */
export function batchCount(policy: RolloutPolicyJson): number {
  return sequence(policy).length + 1;
}

function checkIndex(policy: RolloutPolicyJson, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= batchCount(policy)) {
    throw new RangeError(`batch index ${index} out of range 0..${batchCount(policy) - 1}`);
  }
}

/** The batch definition at `index`; the implicit final batch has no selector and no limit. */
function batchAt(policy: RolloutPolicyJson, index: number): BatchJson {
  checkIndex(policy, index);
  return sequence(policy)[index] ?? {};
}

export function describeBatch(policy: RolloutPolicyJson, index: number): string {
  checkIndex(policy, index);
  return index === sequence(policy).length ? "final implicit batch" : `batch ${index + 1}`;
}

/**
 * Names (sorted) of the devices to select for batch `batchIndex`: not yet selected, connected, matching the batch
 * selector, within its limit. A percentage limit is of the devices the selector matches (connected or not), minus those
 * of them already rolled out, so a later batch with a wider selector only tops the share up. A numeric limit counts
 * devices already selected in this same batch, so re-running the selection tops the batch up instead of exceeding it.
 */
export function selectBatch(policy: RolloutPolicyJson, batchIndex: number, devices: RolloutDevice[]): string[] {
  const batch = batchAt(policy, batchIndex);
  const reqs = labelSelectorFromMessage(batch.selector ?? {}, `${batchPath(batchIndex)}.selector`);
  const matching = devices.filter((d) => matchesRequirements(d.labels, reqs));
  const candidates = matching
    .filter((d) => d.selectedBatch === undefined && d.connected)
    .map((d) => d.name)
    .sort();
  let limit = Infinity;
  if (typeof batch.limit === "number") {
    limit = Math.floor(batch.limit) - devices.filter((d) => d.selectedBatch === batchIndex).length;
  } else if (typeof batch.limit === "string") {
    const p = parsePercent(batch.limit, `${batchPath(batchIndex)}.limit`);
    // "100%" is no limit (the formula would give the same; stated so the intent is plain).
    if (p < 100) limit = Math.round((matching.length * p) / 100) - matching.filter((d) => d.selectedBatch !== undefined).length;
  }
  return candidates.slice(0, Math.max(0, limit));
}

/**
 * Progress of batch `batchIndex`: each selected device is successful (on target), failed, or timed out once the batch
 * has been dispatched longer than the update timeout; the batch is complete when none is still outstanding.
 */
export function batchOutcome(
  policy: RolloutPolicyJson,
  batchIndex: number,
  devices: RolloutDevice[],
  now: Date,
  dispatchedAt: Date,
): BatchOutcome {
  const batch = batchAt(policy, batchIndex);
  const timeout = parseDuration(policy.defaultUpdateTimeout ?? DEFAULT_TIMEOUT, `${POLICY}.defaultUpdateTimeout`);
  const expired = now.getTime() - dispatchedAt.getTime() > timeout;
  let total = 0,
    successful = 0,
    failed = 0,
    timedOut = 0;
  for (const d of devices) {
    if (d.selectedBatch !== batchIndex) continue;
    total++;
    // Being on the target wins over a stale error: the device did end up updated.
    if (d.updatedToTarget) successful++;
    else if (d.failed) failed++;
    else if (expired) timedOut++;
  }
  const threshold =
    batch.successThreshold !== undefined
      ? parsePercent(batch.successThreshold, `${batchPath(batchIndex)}.successThreshold`)
      : policy.successThreshold !== undefined
        ? parsePercent(policy.successThreshold, `${POLICY}.successThreshold`)
        : DEFAULT_THRESHOLD;
  const successPercentage = total === 0 ? 100 : Math.round((100 * successful) / total);
  return {
    complete: successful + failed + timedOut === total,
    total,
    successful,
    failed,
    timedOut,
    successPercentage,
    threshold,
    passed: successPercentage >= threshold,
  };
}

/** Dry run assuming every batch succeeds: what a live rollout would select, batch by batch, if devices stay as they are. */
export function planRollout(
  policy: RolloutPolicyJson,
  devices: RolloutDevice[],
): { batches: { index: number; name: string; devices: string[] }[] } {
  const current = devices.map((d) => ({ ...d }));
  const byName = new Map(current.map((d) => [d.name, d]));
  const batches = [];
  for (let index = 0; index < batchCount(policy); index++) {
    const selected = selectBatch(policy, index, current);
    for (const n of selected) byName.get(n)!.selectedBatch = index;
    batches.push({ index, name: describeBatch(policy, index), devices: selected });
  }
  return { batches };
}

interface GroupCounts {
  key: string;
  total: number;
  unavailable: number;
  available: number;
  members: BudgetDevice[];
}

function groups(budget: DisruptionBudgetJson, devices: BudgetDevice[]): GroupCounts[] {
  const by = new Map<string, GroupCounts>();
  for (const d of devices) {
    // A missing label is its own value "", so unlabeled devices form a group rather than escaping the budget.
    const key = JSON.stringify((budget.groupBy ?? []).map((k) => (Object.hasOwn(d.labels, k) ? d.labels[k] : "")));
    let g = by.get(key);
    if (!g) by.set(key, (g = { key, total: 0, unavailable: 0, available: 0, members: [] }));
    g.total++;
    if (d.busy && d.connected) g.unavailable++;
    g.members.push(d);
  }
  for (const g of by.values()) g.available = g.total - g.unavailable;
  return [...by.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * Floor on available devices: minAvailable, except that a group no larger than minAvailable may still update one
 * device at a time (otherwise it could never update at all).
 */
const availableFloor = (minAvailable: number, total: number) => Math.min(minAvailable, total - 1);

/**
 * Pending devices (sorted by name) that may be released for rendering now without breaking the budget in any group,
 * at most `max` overall. Every released device is counted against its group's allowance, connected or not.
 */
export function releaseUnderBudget(budget: DisruptionBudgetJson, devices: BudgetDevice[], max = 1000): string[] {
  const released: string[] = [];
  for (const g of groups(budget, devices)) {
    const allowance = allowanceOf(budget, g);
    const pending = g.members
      .filter((d) => d.pending)
      .map((d) => d.name)
      .sort();
    released.push(...pending.slice(0, allowance));
  }
  // Per-group picks first, then the global cap by name: any prefix of them still respects every group's allowance.
  return released.sort().slice(0, Math.max(0, max));
}

/** How many more devices of the group may start updating now. */
function allowanceOf(budget: DisruptionBudgetJson, g: GroupCounts): number {
  const byMax = budget.maxUnavailable !== undefined ? budget.maxUnavailable - g.unavailable : Infinity;
  const byMin = budget.minAvailable !== undefined ? g.available - availableFloor(budget.minAvailable, g.total) : Infinity;
  return Math.max(0, Math.min(byMax, byMin));
}

/** Each group with its groupBy label values, size, devices updating now, and how many more may start. */
export function budgetGroups(budget: DisruptionBudgetJson, devices: BudgetDevice[]) {
  return groups(budget, devices).map((g) => {
    const values = JSON.parse(g.key) as string[];
    const labels = Object.fromEntries((budget.groupBy ?? []).map((k, i) => [k, values[i]]));
    return { labels, total: g.total, unavailable: g.unavailable, mayStart: Math.min(allowanceOf(budget, g), 1_000_000) };
  });
}

/** Groups currently outside the budget, described for assertions and logs; empty when the budget holds. */
export function budgetViolations(budget: DisruptionBudgetJson, devices: BudgetDevice[]): string[] {
  const out: string[] = [];
  for (const g of groups(budget, devices)) {
    const name = budget.groupBy?.length ? `group ${g.key}` : "fleet";
    if (budget.maxUnavailable !== undefined && g.unavailable > budget.maxUnavailable) {
      out.push(`${name}: ${g.unavailable} unavailable exceeds maxUnavailable ${budget.maxUnavailable}`);
    }
    if (budget.minAvailable !== undefined && g.available < availableFloor(budget.minAvailable, g.total)) {
      out.push(`${name}: ${g.available} available is below minAvailable ${budget.minAvailable} (of ${g.total})`);
    }
  }
  return out;
}
