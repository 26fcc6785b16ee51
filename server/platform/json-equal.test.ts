import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonEqual } from "./json-equal.js";

test("JSON documents are equal whatever their key order, and differ in any value, key or array position", () => {
  const status = {
    summary: { status: "Online", info: "Device is online" },
    conditions: [{ type: "Updating", status: "False" }],
    systemInfo: { customInfo: { seq: "1" } },
    n: 0,
    flag: false,
    none: null,
  };
  // The same document as Postgres hands it back (jsonb orders keys by length).
  const stored = JSON.parse(
    JSON.stringify({
      n: 0,
      none: null,
      flag: false,
      summary: status.summary,
      systemInfo: status.systemInfo,
      conditions: status.conditions,
    }),
  );
  assert.equal(jsonEqual(status, stored), true);
  assert.equal(jsonEqual(status, { ...stored, systemInfo: { customInfo: { seq: "2" } } }), false);
  assert.equal(jsonEqual(status, { ...stored, extra: "x" }), false);
  assert.equal(jsonEqual({ ...status, extra: "x" }, stored), false);
  assert.equal(jsonEqual(status, { ...stored, conditions: [...status.conditions, ...status.conditions] }), false);
  assert.equal(jsonEqual([1, 2], [2, 1]), false);
  assert.equal(jsonEqual([], {}), false);
  assert.equal(jsonEqual({ a: null }, { a: {} }), false);
  assert.equal(jsonEqual({ a: "1" }, { a: 1 }), false);
  assert.equal(jsonEqual(null, null), true);
  assert.equal(jsonEqual(null, {}), false);
});

test("as JSON sees it: an undefined property is absent and 0 is -0; inherited names are not properties", () => {
  assert.equal(jsonEqual({ a: 1, b: undefined }, { a: 1 }), true);
  assert.equal(jsonEqual({ a: 1 }, { a: 1, b: undefined }), true);
  assert.equal(jsonEqual({ n: -0 }, { n: 0 }), true);
  assert.equal(jsonEqual({ toString: {} }, {}), false);
  assert.equal(jsonEqual(JSON.parse('{"__proto__": {}}'), {}), false);
  assert.equal(jsonEqual({}, JSON.parse('{"__proto__": {}}')), false);
  assert.equal(jsonEqual(JSON.parse('{"__proto__": {"a": 1}}'), JSON.parse('{"__proto__": {"a": 1}}')), true);
});
