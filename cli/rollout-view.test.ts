// What `rollout status` and `rollout plan` print, from the fleet's and devices' annotations (no service needed).
import assert from "node:assert/strict";
import { test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { planRows, renderView, rolloutView } from "./rollout-view.js";

const device = (name: string, batch: number): JsonObject => ({
  metadata: {
    name,
    annotations: {
      "fleet-controller/renderedTemplateVersion": "lab-2",
      "fleet-controller/selectedForRollout": `lab-2/${batch}`,
    },
  },
  status: { updated: { status: "UpToDate" } },
});

test("a finished rollout's last frame shows every batch complete (batchNumber still points at the last one)", () => {
  const fleet: JsonObject = {
    metadata: { name: "lab", annotations: { "fleet-controller/deployingTemplateVersion": "lab-2", "fleet-controller/batchNumber": "1" } },
    status: {
      conditions: [{ type: "RolloutInProgress", status: "False", reason: "Inactive", message: "template version lab-2 rolled out" }],
    },
  };
  const plan = [
    { name: "batch 1", devices: ["a"] },
    { name: "final implicit batch", devices: ["b", "c"] },
  ];
  const view = rolloutView(fleet, [device("a", 0), device("b", 1), device("c", 1)], plan);
  assert.equal(view.done, true);
  const text = renderView("lab", view);
  assert.doesNotMatch(text, /dispatched|pending/, text);
  assert.equal(text.match(/ complete$/gm)?.length, 2, text);
});

test("while batch 2 runs it is dispatched and batch 1 complete", () => {
  const fleet: JsonObject = {
    metadata: { name: "lab", annotations: { "fleet-controller/deployingTemplateVersion": "lab-2", "fleet-controller/batchNumber": "1" } },
    status: { conditions: [{ type: "RolloutInProgress", status: "True", reason: "Active", message: "" }] },
  };
  const view = rolloutView(
    fleet,
    [device("a", 0)],
    [
      { name: "batch 1", devices: ["a"] },
      { name: "final implicit batch", devices: [] },
    ],
  );
  assert.deepEqual(
    view.batches.map((b) => b.state),
    ["complete", "dispatched"],
  );
});

test("the plan leaves out batches that select no device (10 % of one device)", () => {
  const { rows, empty } = planRows([
    { name: "batch 1", devices: [], successThreshold: 90 },
    { name: "final implicit batch", devices: ["only-one"] },
  ]);
  assert.deepEqual(rows, [["2", "final implicit batch", "1", ""]]);
  assert.deepEqual(empty, [1]);
});
