// Rollout arithmetic: batch selection (limits, percentages, selectors, implicit final batch), batch outcomes, the
// disruption budget, the dry-run plan, and a simulated rollout that must keep the budget at every tick.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  batchCount,
  batchOutcome,
  budgetViolations,
  describeBatch,
  matchesRequirements,
  parseDuration,
  parsePercent,
  planRollout,
  releaseUnderBudget,
  selectBatch,
  type BudgetDevice,
  type RolloutDevice,
} from "./rollout-math.js";
import type {
  BatchJson as Batch,
  DisruptionBudgetJson as DisruptionBudget,
  RolloutPolicyJson as RolloutPolicy,
} from "../../gen/flightctl/v1beta1/fleet_pb.js";

function dev(name: string, labels: Record<string, string> = {}, extra: Partial<RolloutDevice> = {}): RolloutDevice {
  return { name, labels, connected: true, updatedToTarget: false, failed: false, updating: false, renderedTarget: false, ...extra };
}

/** n devices d00..d(n-1) listed in reverse, so sorting by name is observable. */
function many(n: number, labels: (i: number) => Record<string, string> = () => ({})): RolloutDevice[] {
  return Array.from({ length: n }, (_, i) => dev(`d${String(i).padStart(2, "0")}`, labels(i))).reverse();
}

const seq = (...sequence: Batch[]): RolloutPolicy => ({
  deviceSelection: { strategy: "BatchSequence", sequence },
});

describe("matchesRequirements", () => {
  const labels = { env: "prod", site: "a" };
  test("positive operators need the key", () => {
    assert.equal(matchesRequirements(labels, [{ key: "env", op: "=", values: ["prod"] }]), true);
    assert.equal(matchesRequirements(labels, [{ key: "env", op: "=", values: ["dev"] }]), false);
    assert.equal(matchesRequirements(labels, [{ key: "zone", op: "=", values: [""] }]), false);
    assert.equal(matchesRequirements(labels, [{ key: "site", op: "in", values: ["b", "a"] }]), true);
    assert.equal(matchesRequirements(labels, [{ key: "zone", op: "in", values: ["a"] }]), false);
    assert.equal(matchesRequirements(labels, [{ key: "site", op: "exists", values: [] }]), true);
    assert.equal(matchesRequirements(labels, [{ key: "zone", op: "exists", values: [] }]), false);
  });
  test("negative operators match a missing key", () => {
    assert.equal(matchesRequirements(labels, [{ key: "zone", op: "!=", values: ["x"] }]), true);
    assert.equal(matchesRequirements(labels, [{ key: "env", op: "!=", values: ["prod"] }]), false);
    assert.equal(matchesRequirements(labels, [{ key: "zone", op: "notin", values: ["x"] }]), true);
    assert.equal(matchesRequirements(labels, [{ key: "site", op: "notin", values: ["a", "b"] }]), false);
    assert.equal(matchesRequirements(labels, [{ key: "zone", op: "!", values: [] }]), true);
    assert.equal(matchesRequirements(labels, [{ key: "env", op: "!", values: [] }]), false);
  });
  test("all requirements must hold; none matches everything; prototype keys are not labels", () => {
    assert.equal(matchesRequirements(labels, []), true);
    assert.equal(matchesRequirements({}, []), true);
    assert.equal(
      matchesRequirements(labels, [
        { key: "env", op: "=", values: ["prod"] },
        { key: "site", op: "=", values: ["b"] },
      ]),
      false,
    );
    assert.equal(matchesRequirements({}, [{ key: "constructor", op: "exists", values: [] }]), false);
  });
});

describe("parsePercent and parseDuration", () => {
  test("accept the documented forms", () => {
    assert.equal(parsePercent("0%", "f"), 0);
    assert.equal(parsePercent("7%", "f"), 7);
    assert.equal(parsePercent("90%", "f"), 90);
    assert.equal(parsePercent("100%", "f"), 100);
    assert.equal(parseDuration("30s", "f"), 30_000);
    assert.equal(parseDuration("15m", "f"), 900_000);
    assert.equal(parseDuration("24h", "f"), 86_400_000);
  });
  test("reject anything else, naming the field", () => {
    for (const bad of ["", "90", "101%", "090%", "9.5%", "-1%", " 90%", "90 %"]) {
      assert.throws(
        () => parsePercent(bad, "spec.rolloutPolicy.successThreshold"),
        (e: Error) => {
          assert.match(e.message, /^spec\.rolloutPolicy\.successThreshold: must be an integer percentage like "90%"/);
          return true;
        },
        bad,
      );
    }
    for (const bad of ["", "24", "1d", "1.5h", "h", "-1h", "24H"]) {
      assert.throws(
        () => parseDuration(bad, "spec.rolloutPolicy.defaultUpdateTimeout"),
        /^DomainError: spec\.rolloutPolicy\.defaultUpdateTimeout: /,
        bad,
      );
    }
  });
});

describe("batches", () => {
  test("count and names include the implicit final batch", () => {
    assert.equal(batchCount({}), 1);
    assert.equal(describeBatch({}, 0), "final implicit batch");
    const p = seq({ limit: 1 }, { limit: 2 });
    assert.equal(batchCount(p), 3);
    assert.deepEqual(
      [0, 1, 2].map((i) => describeBatch(p, i)),
      ["batch 1", "batch 2", "final implicit batch"],
    );
    assert.throws(() => describeBatch(p, 3), RangeError);
    assert.throws(() => selectBatch(p, -1, []), RangeError);
  });
});

describe("selectBatch", () => {
  test("numeric limit takes the first N candidates by name", () => {
    assert.deepEqual(selectBatch(seq({ limit: 2 }), 0, many(5)), ["d00", "d01"]);
    assert.deepEqual(selectBatch(seq({ limit: 9 }), 0, many(3)), ["d00", "d01", "d02"]);
  });

  test("numeric limit counts devices already selected in the same batch (re-run tops up)", () => {
    const ds = many(5);
    ds.find((d) => d.name === "d03")!.selectedBatch = 0;
    assert.deepEqual(selectBatch(seq({ limit: 2 }), 0, ds), ["d00"]);
    // Devices of an earlier batch do not use up this batch's numeric limit.
    assert.deepEqual(selectBatch(seq({ limit: 1 }, { limit: 2 }), 1, ds), ["d00", "d01"]);
  });

  test("no limit: every matching connected unselected device", () => {
    const ds = many(4, (i) => ({ site: i % 2 ? "b" : "a" }));
    assert.deepEqual(selectBatch(seq({ selector: { matchLabels: { site: "a" } } }), 0, ds), ["d00", "d02"]);
  });

  test("selectors: matchLabels and matchExpressions", () => {
    const ds = [
      dev("x1", { env: "prod", site: "a" }),
      dev("x2", { env: "dev", site: "a" }),
      dev("x3", { site: "b" }),
      dev("x4", { env: "prod", site: "c" }),
    ];
    const sel = (selector: object) => selectBatch(seq({ selector }), 0, ds);
    assert.deepEqual(sel({ matchLabels: { env: "prod" } }), ["x1", "x4"]);
    assert.deepEqual(sel({ matchExpressions: [{ key: "site", operator: "In", values: ["a", "b"] }] }), ["x1", "x2", "x3"]);
    assert.deepEqual(sel({ matchExpressions: [{ key: "env", operator: "NotIn", values: ["prod"] }] }), ["x2", "x3"]);
    assert.deepEqual(sel({ matchExpressions: [{ key: "env", operator: "DoesNotExist" }] }), ["x3"]);
    assert.deepEqual(sel({ matchLabels: { env: "prod" }, matchExpressions: [{ key: "site", operator: "NotIn", values: ["c"] }] }), ["x1"]);
    assert.throws(() => sel({ matchExpressions: [{ key: "env", operator: "Bogus" }] }), /sequence\[0\]\.selector/);
  });

  test("disconnected and already-selected devices are never candidates", () => {
    const ds = [dev("a"), dev("b", {}, { connected: false }), dev("c", {}, { selectedBatch: 0 }), dev("d")];
    assert.deepEqual(selectBatch(seq({}, {}), 1, ds), ["a", "d"]);
    assert.deepEqual(selectBatch(seq({ limit: 2 }), 1, ds), ["a", "d"]);
  });

  test("percentage rounds the share of all matching devices, disconnected included", () => {
    assert.deepEqual(selectBatch(seq({ limit: "50%" }), 0, many(5)), ["d00", "d01", "d02"]); // 2.5 -> 3
    assert.deepEqual(selectBatch(seq({ limit: "30%" }), 0, many(5)), ["d00", "d01"]); // 1.5 -> 2
    assert.deepEqual(selectBatch(seq({ limit: "20%" }), 0, many(7)), ["d00"]); // 1.4 -> 1
    assert.deepEqual(selectBatch(seq({ limit: "0%" }), 0, many(7)), []);
    // 10 devices, 2 disconnected: 50% is 5 of the 10, picked from the 8 connected.
    const ds = many(10);
    for (const d of ds) if (d.name === "d00" || d.name === "d03") d.connected = false;
    assert.deepEqual(selectBatch(seq({ limit: "50%" }), 0, ds), ["d01", "d02", "d04", "d05", "d06"]);
  });

  test("percentage subtracts matching devices already rolled out, never below zero", () => {
    const ds = many(10, (i) => ({ site: i < 4 ? "a" : "b" }));
    const p = seq(
      { selector: { matchLabels: { site: "a" } }, limit: 2 },
      { limit: "50%" },
      { selector: { matchLabels: { site: "a" } }, limit: "25%" },
    );
    const first = selectBatch(p, 0, ds);
    assert.deepEqual(first, ["d00", "d01"]);
    for (const d of ds) if (first.includes(d.name)) d.selectedBatch = 0;
    // 50% of 10 = 5, 2 already out -> 3 more.
    const second = selectBatch(p, 1, ds);
    assert.deepEqual(second, ["d02", "d03", "d04"]);
    for (const d of ds) if (second.includes(d.name)) d.selectedBatch = 1;
    // 25% of the 4 site-a devices = 1, but all 4 are out already: nothing, not a negative slice.
    assert.deepEqual(selectBatch(p, 2, ds), []);
  });

  test('"100%" means no limit', () => {
    const ds = many(6);
    ds[0].selectedBatch = 0; // d05
    ds[1].connected = false; // d04
    assert.deepEqual(selectBatch(seq({ limit: 1 }, { limit: "100%" }), 1, ds), ["d00", "d01", "d02", "d03"]);
  });

  test("the implicit final batch takes every remaining connected device, ignoring any selector", () => {
    const ds = many(6, (i) => ({ site: i < 2 ? "a" : "b" }));
    ds.find((d) => d.name === "d00")!.selectedBatch = 0;
    ds.find((d) => d.name === "d05")!.connected = false;
    const p = seq({ selector: { matchLabels: { site: "a" } }, limit: 1 });
    assert.deepEqual(selectBatch(p, 1, ds), ["d01", "d02", "d03", "d04"]);
  });

  test("a malformed percentage names the batch's limit field", () => {
    assert.throws(() => selectBatch(seq({}, { limit: "5" }), 1, many(2)), /spec\.rolloutPolicy\.deviceSelection\.sequence\[1\]\.limit/);
  });
});

describe("batchOutcome", () => {
  const t0 = new Date("2024-01-01T00:00:00Z");
  const at = (ms: number) => new Date(t0.getTime() + ms);
  const H = 3_600_000;

  function batchOf(states: Partial<RolloutDevice>[], batch = 0): RolloutDevice[] {
    return [
      ...states.map((s, i) => dev(`b${i}`, {}, { selectedBatch: batch, ...s })),
      dev("other", {}, { selectedBatch: batch + 1, failed: true }),
      dev("unsel"),
    ];
  }

  test("counts only the batch's devices; complete once none is outstanding", () => {
    const p = seq({}, {});
    const ds = batchOf([{ updatedToTarget: true }, { failed: true }, { updating: true, renderedTarget: true }]);
    const o = batchOutcome(p, 0, ds, at(H), t0);
    assert.deepEqual(o, {
      complete: false,
      total: 3,
      successful: 1,
      failed: 1,
      timedOut: 0,
      successPercentage: 33,
      threshold: 90,
      passed: false,
    });
    ds[2].updatedToTarget = true;
    assert.deepEqual(batchOutcome(p, 0, ds, at(H), t0), { ...o, complete: true, successful: 2, successPercentage: 67 });
    // On target wins over a stale error.
    ds[1].updatedToTarget = true;
    assert.equal(batchOutcome(p, 0, ds, at(H), t0).successPercentage, 100);
    assert.equal(batchOutcome(p, 0, ds, at(H), t0).passed, true);
  });

  test("an empty batch is complete and passes", () => {
    const o = batchOutcome(seq({}), 0, [dev("x", {}, { selectedBatch: 1 })], t0, t0);
    assert.deepEqual(o, {
      complete: true,
      total: 0,
      successful: 0,
      failed: 0,
      timedOut: 0,
      successPercentage: 100,
      threshold: 90,
      passed: true,
    });
  });

  test("outstanding devices time out strictly after the update timeout (default 24h)", () => {
    const ds = batchOf([{ updatedToTarget: true }, {}, {}]);
    assert.equal(batchOutcome(seq({}), 0, ds, at(24 * H), t0).timedOut, 0);
    const o = batchOutcome(seq({}), 0, ds, at(24 * H + 1), t0);
    assert.equal(o.timedOut, 2);
    assert.equal(o.complete, true);
    assert.equal(o.passed, false);
    const short: RolloutPolicy = { ...seq({}), defaultUpdateTimeout: "30m" };
    assert.equal(batchOutcome(short, 0, ds, at(30 * 60_000), t0).timedOut, 0);
    assert.equal(batchOutcome(short, 0, ds, at(30 * 60_000 + 1), t0).timedOut, 2);
    assert.throws(() => batchOutcome({ defaultUpdateTimeout: "1d" }, 0, ds, t0, t0), /spec\.rolloutPolicy\.defaultUpdateTimeout/);
  });

  test("threshold: batch, else policy, else 90", () => {
    // 4 of 5 successful = 80%.
    const ds = batchOf([
      { updatedToTarget: true },
      { updatedToTarget: true },
      { updatedToTarget: true },
      { updatedToTarget: true },
      { failed: true },
    ]);
    const dflt = batchOutcome(seq({}), 0, ds, t0, t0);
    assert.equal(dflt.successPercentage, 80);
    assert.equal(dflt.threshold, 90);
    assert.equal(dflt.passed, false);
    const pol = batchOutcome({ ...seq({}), successThreshold: "80%" }, 0, ds, t0, t0);
    assert.equal(pol.threshold, 80);
    assert.equal(pol.passed, true);
    const own = batchOutcome({ ...seq({ successThreshold: "81%" }), successThreshold: "50%" }, 0, ds, t0, t0);
    assert.equal(own.threshold, 81);
    assert.equal(own.passed, false);
    // The implicit final batch has no batch threshold of its own.
    const fin = batchOutcome(
      { ...seq({ successThreshold: "10%" }), successThreshold: "75%" },
      1,
      batchOf([{ updatedToTarget: true }], 1),
      t0,
      t0,
    );
    assert.equal(fin.threshold, 75);
    assert.throws(() => batchOutcome(seq({ successThreshold: "x" }), 0, ds, t0, t0), /sequence\[0\]\.successThreshold/);
  });
});

function bdev(name: string, labels: Record<string, string>, s: Partial<BudgetDevice> = {}): BudgetDevice {
  return { name, labels, connected: true, busy: false, pending: false, ...s };
}

describe("releaseUnderBudget", () => {
  test("no budget constraints: every pending device, sorted", () => {
    const ds = [bdev("c", {}, { pending: true }), bdev("a", {}, { pending: true }), bdev("b", {}), bdev("d", {}, { busy: true })];
    assert.deepEqual(releaseUnderBudget({}, ds), ["a", "c"]);
  });

  test("maxUnavailable per group, busy counting only when connected; missing label is its own group", () => {
    const budget: DisruptionBudget = { groupBy: ["site"], maxUnavailable: 2 };
    const ds = [
      // site a: one busy -> one more
      bdev("a1", { site: "a" }, { busy: true }),
      bdev("a2", { site: "a" }, { pending: true }),
      bdev("a3", { site: "a" }, { pending: true }),
      // site b: two busy, one of them disconnected -> one more
      bdev("b1", { site: "b" }, { busy: true }),
      bdev("b2", { site: "b" }, { busy: true, connected: false }),
      bdev("b3", { site: "b" }, { pending: true }),
      bdev("b4", { site: "b" }, { pending: true }),
      // site c: full
      bdev("c1", { site: "c" }, { busy: true }),
      bdev("c2", { site: "c" }, { busy: true }),
      bdev("c3", { site: "c" }, { pending: true }),
      // no site label: its own group, nothing busy -> two
      bdev("n3", {}, { pending: true }),
      bdev("n1", {}, { pending: true }),
      bdev("n2", {}, { pending: true }),
      bdev("e1", { site: "" }, { pending: true }),
    ];
    assert.deepEqual(releaseUnderBudget(budget, ds), ["a2", "b3", "e1", "n1"]);
    // Without groupBy it is one group with 4 connected busy (b2 is disconnected).
    assert.deepEqual(releaseUnderBudget({ maxUnavailable: 2 }, ds), []);
    assert.deepEqual(releaseUnderBudget({ maxUnavailable: 5 }, ds), ["a2"]);
    assert.deepEqual(releaseUnderBudget({ maxUnavailable: 6 }, ds), ["a2", "a3"]);
  });

  test("groupBy over several keys", () => {
    const ds = [
      bdev("x1", { site: "a", rack: "1" }, { busy: true }),
      bdev("x2", { site: "a", rack: "1" }, { pending: true }),
      bdev("x3", { site: "a", rack: "2" }, { pending: true }),
      bdev("x4", { site: "a" }, { pending: true }),
    ];
    assert.deepEqual(releaseUnderBudget({ groupBy: ["site", "rack"], maxUnavailable: 1 }, ds), ["x3", "x4"]);
  });

  test("minAvailable keeps that many available per group", () => {
    const budget: DisruptionBudget = { groupBy: ["site"], minAvailable: 3 };
    const five = (site: string, busy: number) =>
      Array.from({ length: 5 }, (_, i) => bdev(`${site}${i}`, { site }, i < busy ? { busy: true } : { pending: true }));
    assert.deepEqual(releaseUnderBudget(budget, five("a", 0)), ["a0", "a1"]);
    assert.deepEqual(releaseUnderBudget(budget, five("a", 1)), ["a1"]);
    assert.deepEqual(releaseUnderBudget(budget, five("a", 2)), []);
    assert.deepEqual(releaseUnderBudget(budget, five("a", 3)), []); // already below: nothing, never negative
    assert.deepEqual(releaseUnderBudget({ minAvailable: 0 }, five("a", 0)), ["a0", "a1", "a2", "a3", "a4"]);
  });

  test("a group no larger than minAvailable updates one device at a time", () => {
    const budget: DisruptionBudget = { groupBy: ["site"], minAvailable: 3 };
    const small = [bdev("s1", { site: "s" }, { pending: true }), bdev("s2", { site: "s" }, { pending: true })];
    assert.deepEqual(releaseUnderBudget(budget, small), ["s1"]);
    small[0] = { ...small[0], pending: false, busy: true };
    assert.deepEqual(releaseUnderBudget(budget, small), []);
    assert.deepEqual(releaseUnderBudget(budget, [bdev("solo", { site: "t" }, { pending: true })]), ["solo"]);
    const exact = [1, 2, 3].map((i) => bdev(`e${i}`, { site: "e" }, { pending: true }));
    assert.deepEqual(releaseUnderBudget(budget, exact), ["e1"]);
  });

  test("both constraints: the stricter wins", () => {
    const ds = Array.from({ length: 10 }, (_, i) => bdev(`d${i}`, {}, { pending: true }));
    assert.deepEqual(releaseUnderBudget({ maxUnavailable: 3, minAvailable: 8 }, ds), ["d0", "d1"]);
    assert.deepEqual(releaseUnderBudget({ maxUnavailable: 3, minAvailable: 2 }, ds), ["d0", "d1", "d2"]);
  });

  test("max caps the total across groups, by name", () => {
    const ds = ["b1", "a1", "b2", "a2", "c1"].map((n) => bdev(n, { site: n[0] }, { pending: true }));
    assert.deepEqual(releaseUnderBudget({ groupBy: ["site"], maxUnavailable: 1 }, ds), ["a1", "b1", "c1"]);
    assert.deepEqual(releaseUnderBudget({ groupBy: ["site"], maxUnavailable: 1 }, ds, 2), ["a1", "b1"]);
    assert.deepEqual(releaseUnderBudget({}, ds, 4), ["a1", "a2", "b1", "b2"]);
    assert.deepEqual(releaseUnderBudget({}, ds, 0), []);
  });
});

describe("budgetViolations", () => {
  test("reports groups over maxUnavailable or under the available floor", () => {
    const ds = [
      bdev("a1", { site: "a" }, { busy: true }),
      bdev("a2", { site: "a" }, { busy: true }),
      bdev("a3", { site: "a" }),
      bdev("b1", { site: "b" }, { busy: true }),
      bdev("b2", { site: "b" }, { busy: true, connected: false }),
    ];
    assert.deepEqual(budgetViolations({ groupBy: ["site"], maxUnavailable: 1 }, ds).length, 1);
    assert.match(budgetViolations({ groupBy: ["site"], maxUnavailable: 1 }, ds)[0], /\["a"\].*2 unavailable exceeds maxUnavailable 1/);
    assert.deepEqual(budgetViolations({ groupBy: ["site"], maxUnavailable: 2 }, ds), []);
    // site a: 1 available < 2; site b (2 devices, floor min(2, 1) = 1): 1 available -> fine.
    const v = budgetViolations({ groupBy: ["site"], minAvailable: 2 }, ds);
    assert.equal(v.length, 1);
    assert.match(v[0], /\["a"\].*1 available is below minAvailable 2/);
    assert.equal(budgetViolations({ maxUnavailable: 2 }, ds).length, 1);
    assert.deepEqual(budgetViolations({}, ds), []);
  });
});

describe("planRollout", () => {
  test("equals selecting batch after batch, marking as it goes", () => {
    const ds = many(20, (i) => ({ site: ["a", "b", "c"][i % 3], ...(i % 4 === 0 ? { canary: "yes" } : {}) }));
    ds.find((d) => d.name === "d07")!.connected = false;
    ds.find((d) => d.name === "d11")!.selectedBatch = 0; // selected earlier in this rollout
    const p = seq(
      { selector: { matchLabels: { canary: "yes" } }, limit: 2 },
      { selector: { matchLabels: { site: "a" } }, limit: "50%" },
      { limit: "40%" },
      { selector: { matchExpressions: [{ key: "site", operator: "In", values: ["b"] }] } },
    );
    const plan = planRollout(p, ds);
    const manual = ds.map((d) => ({ ...d }));
    const expected = [];
    for (let i = 0; i < batchCount(p); i++) {
      const names = selectBatch(p, i, manual);
      for (const d of manual) if (names.includes(d.name)) d.selectedBatch = i;
      expected.push({ index: i, name: describeBatch(p, i), devices: names });
    }
    assert.deepEqual(plan.batches, expected);
    // Concretely, to show the plan is non-trivial and the input untouched.
    assert.deepEqual(plan.batches[0].devices, ["d00"]); // d11 already fills one of batch 1's two places
    assert.deepEqual(plan.batches[1].devices, ["d03", "d06", "d09"]); // site a: 7 -> round(3.5)=4, d00 already out
    assert.equal(plan.batches.at(-1)!.name, "final implicit batch");
    const planned = plan.batches.flatMap((b) => b.devices).sort();
    assert.deepEqual(
      planned,
      ds
        .filter((d) => d.connected && d.selectedBatch === undefined)
        .map((d) => d.name)
        .sort(),
    );
    assert.equal(ds.find((d) => d.name === "d00")!.selectedBatch, undefined);
  });
});

describe("simulated rollout", () => {
  test("selects batch by batch, renders under the budget, and never violates it", () => {
    // 3 sites of 8 devices plus a 2-device site (smaller than minAvailable), one device disconnected throughout.
    const devices: RolloutDevice[] = [];
    for (const site of ["a", "b", "c"])
      for (let i = 0; i < 8; i++) devices.push(dev(`${site}${i}`, { site, tier: i < 2 ? "canary" : "main" }));
    devices.push(dev("s0", { site: "s" }), dev("s1", { site: "s" }));
    devices.find((d) => d.name === "b5")!.connected = false;
    const budget: DisruptionBudget = { groupBy: ["site"], maxUnavailable: 2, minAvailable: 5 };
    const policy: RolloutPolicy = {
      ...seq({ selector: { matchLabels: { tier: "canary" } }, limit: 3 }, { limit: "50%" }),
      disruptionBudget: budget,
      successThreshold: "100%",
    };
    const plan = planRollout(policy, devices);

    // Each device takes 1..3 ticks to apply once rendered (deterministic by name).
    const applyTicks = (name: string) => 1 + ([...name].reduce((s, c) => s + c.charCodeAt(0), 0) % 3);
    const renderedAt = new Map<string, number>();
    const budgetView = (): BudgetDevice[] =>
      devices.map((d) => ({
        name: d.name,
        labels: d.labels,
        connected: d.connected,
        busy: d.renderedTarget && !d.updatedToTarget,
        pending: d.selectedBatch !== undefined && !d.renderedTarget,
      }));

    const t0 = new Date("2024-01-01T00:00:00Z");
    const selectedPerBatch: string[][] = [];
    let batch = -1;
    let maxBusyPerSite = 0;
    let tick = 0;
    for (; tick < 200; tick++) {
      // Devices apply what they rendered.
      for (const d of devices) {
        if (d.updating && tick - renderedAt.get(d.name)! >= applyTicks(d.name)) {
          d.updating = false;
          d.updatedToTarget = true;
        }
      }
      // Advance to the next batch once the current one is done.
      const done = batch < 0 || batchOutcome(policy, batch, devices, t0, t0).complete;
      if (done && batch >= 0) assert.equal(batchOutcome(policy, batch, devices, t0, t0).passed, true);
      if (done && batch === batchCount(policy) - 1) break;
      if (done) {
        batch++;
        const names = selectBatch(policy, batch, devices);
        selectedPerBatch.push(names);
        for (const d of devices) if (names.includes(d.name)) d.selectedBatch = batch;
      }
      // Release under the budget (a small per-tick cap keeps it interesting); released devices start rendering.
      const released = releaseUnderBudget(budget, budgetView(), 3);
      for (const d of devices) {
        if (released.includes(d.name)) {
          assert.equal(d.selectedBatch, batch, `${d.name} released outside the current batch`);
          d.renderedTarget = d.updating = true;
          renderedAt.set(d.name, tick);
        }
      }
      assert.deepEqual(budgetViolations(budget, budgetView()), [], `tick ${tick}`);
      for (const site of ["a", "b", "c", "s"]) {
        maxBusyPerSite = Math.max(maxBusyPerSite, budgetView().filter((d) => d.labels.site === site && d.busy && d.connected).length);
      }
    }

    assert.ok(tick < 200, "rollout finished");
    assert.deepEqual(
      selectedPerBatch,
      plan.batches.map((b) => b.devices),
    );
    assert.deepEqual(selectedPerBatch[0], ["a0", "a1", "b0"]);
    // The budget was actually binding (2 unavailable in a site) yet never exceeded.
    assert.equal(maxBusyPerSite, 2);
    for (const d of devices) assert.equal(d.updatedToTarget, d.name !== "b5", d.name);
    assert.equal(devices.find((d) => d.name === "b5")!.selectedBatch, undefined);

    // The check is able to fail: releasing everything pending at once breaks the budget.
    const burst = budgetView().map((d) => ({ ...d, busy: true }));
    assert.notDeepEqual(budgetViolations(budget, burst), []);
  });
});
