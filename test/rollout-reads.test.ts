// The rollout reads an owned device through a SQL projection (ownedForRollout: a few status fields, the rollout's
// annotations, the labels its policy reads) instead of the whole row. Over rows covering the status shapes the
// rollout tells apart, the projection must say exactly what the same fields read from the full row in JavaScript say.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { createDeviceStore } from "../server/devices/device-store.js";
import { createDb } from "../server/platform/db.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { policyLabelKeys } from "../server/fleets/rollout-math.js";

let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

const ORG = DEFAULT_ORG_ID;
const cond = (type: string, status: string, reason = "R") => ({ type, status, reason, message: "m" });
const ANNOTATIONS = ["fleet-controller/selectedForRollout", "fleet-controller/renderedTemplateVersion", "x/missing"];

/** name, owner, labels, annotations, status (null: none). */
const rows: [string, string, Record<string, string>, Record<string, string>, object | null][] = [
  ["r-01", "Fleet/f", { rack: "a", zone: "z1", other: "o" }, { "fleet-controller/selectedForRollout": "v2/0", keep: "k" }, null],
  ["r-02", "Fleet/f", {}, {}, {}],
  [
    "r-03",
    "Fleet/f",
    { rack: "b" },
    { "fleet-controller/renderedTemplateVersion": "v2" },
    {
      summary: { status: "Online" },
      updated: { status: "OutOfDate" },
      conditions: [cond("SpecValid", "True"), cond("Updating", "True", "Error"), cond("Updating", "False", "Updated")],
    },
  ],
  [
    "r-04",
    "Fleet/f",
    { zone: "z2" },
    {},
    { summary: { status: "AwaitingReconnect" }, updated: { status: "UpToDate" }, conditions: [cond("MultipleOwners", "True")] },
  ],
  ["r-05", "Fleet/f", { rack: "a" }, {}, { summary: { status: "Degraded" }, conditions: [cond("MultipleOwners", "False")] }],
  ["r-06", "Fleet/f", { rack: "" }, {}, { summary: {}, updated: {}, conditions: [] }],
  ["r-07", "Fleet/g", { rack: "a" }, {}, { summary: { status: "Online" } }],
  ["r-08", "", { rack: "a" }, {}, { summary: { status: "Online" } }],
];

test("ownedForRollout: the projected fields equal those read from the full rows; only the asked labels and annotations", async () => {
  for (const [name, owner, labels, annotations, status] of rows)
    await t.db.pool.query(
      `insert into devices (org_id, name, owner, labels, annotations, spec, status) values ($1, $2, nullif($3, ''), $4, $5, '{}', $6)`,
      [ORG, name, owner, labels, annotations, status === null ? null : JSON.stringify(status)],
    );
  const keys = policyLabelKeys({
    deviceSelection: {
      strategy: "BatchSequence",
      sequence: [{ selector: { matchLabels: { rack: "a" } } }, { selector: { matchExpressions: [{ key: "zone", operator: "Exists" }] } }],
    },
    disruptionBudget: { groupBy: ["rack", "absent"], maxUnavailable: 1 },
  });
  assert.deepEqual(keys, ["absent", "rack", "zone"]);
  const got = await createDeviceStore(createDb(t.db.pool)).ownedForRollout(ORG, "Fleet/f", keys, ANNOTATIONS);

  const full = (await t.db.pool.query(`select name, labels, annotations, status from devices where owner = 'Fleet/f' order by name`)).rows;
  type Condition = { type?: string; status?: string; reason?: string };
  const expected = full.map((d) => {
    const conditions: Condition[] = d.status?.conditions ?? [];
    const pick = (o: Record<string, string>, ks: string[]) =>
      Object.fromEntries(ks.filter((k) => Object.hasOwn(o, k)).map((k) => [k, o[k]]));
    return {
      name: d.name,
      labels: pick(d.labels, keys),
      annotations: pick(d.annotations, ANNOTATIONS),
      summary: d.status?.summary?.status ?? null,
      updated: d.status?.updated?.status ?? null,
      updatingReason: conditions.find((c) => c.type === "Updating")?.reason ?? null,
      multipleOwners: conditions.some((c) => c.type === "MultipleOwners" && c.status === "True"),
    };
  });
  assert.deepEqual(got, expected);
  // Spot checks, so the comparison above cannot pass on two equally wrong sides.
  assert.deepEqual(
    got.map((d) => d.name),
    ["r-01", "r-02", "r-03", "r-04", "r-05", "r-06"],
  );
  assert.deepEqual(got[0].labels, { rack: "a", zone: "z1" });
  assert.deepEqual(got[0].annotations, { "fleet-controller/selectedForRollout": "v2/0" });
  assert.equal(got[2].updatingReason, "Error");
  assert.equal(got[3].multipleOwners, true);
  assert.equal(got[4].multipleOwners, false);
  assert.deepEqual(got[5].labels, { rack: "" });
  assert.equal(got[0].summary, null);
});
