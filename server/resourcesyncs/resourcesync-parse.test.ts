import assert from "node:assert/strict";
import { test } from "node:test";
import type { JsonObject } from "@bufbuild/protobuf";
import { invalid } from "../platform/errors.js";
import { parseFleets, ParseError, resourceFiles } from "./resourcesync-parse.js";

const file = (path: string, text: string) => ({ path, content: Buffer.from(text) });
const fleet = (name: string) => `apiVersion: flightctl.io/v1beta1\nkind: Fleet\nmetadata:\n  name: ${name}\nspec: {}\n`;
/** A stand-in for decode + validation: refuses a fleet named "bad" on a field. */
const toFleet = (doc: JsonObject) => {
  if ((doc.metadata as JsonObject).name === "bad") throw invalid({ field: "spec.template", message: "is required" });
  return doc;
};

test("resourceFiles: the file itself, or the resource files directly in the directory, sorted", () => {
  const files = [
    file("fleets/b.yml", ""),
    file("fleets/a.yaml", ""),
    file("fleets/README.md", ""),
    file("fleets/sub/c.yaml", ""),
    file("fleets/d.JSON", ""),
  ];
  assert.deepEqual(
    resourceFiles(files, "fleets").map((f) => f.path),
    ["fleets/a.yaml", "fleets/b.yml", "fleets/d.JSON"],
  );
  assert.deepEqual(
    resourceFiles([file("fleets/a.yaml", "")], "fleets/a.yaml").map((f) => f.path),
    ["fleets/a.yaml"],
  );
  assert.deepEqual(
    resourceFiles([file("a.yaml", ""), file("x/b.yaml", "")], "").map((f) => f.path),
    ["a.yaml"],
  );
});

test("parseFleets: multi-document files, other kinds skipped and listed, JSON files", () => {
  const r = parseFleets(
    [
      file("f/a.yaml", `${fleet("one")}---\n---\nkind: Device\nmetadata:\n  name: d\n---\n${fleet("two")}`),
      file("f/b.json", '{"kind":"Fleet","metadata":{"name":"three"}}'),
    ],
    toFleet,
  );
  assert.deepEqual(
    r.fleets.map((f) => [f.name, f.file, f.index]),
    [
      ["one", "f/a.yaml", 0],
      ["two", "f/a.yaml", 3],
      ["three", "f/b.json", 0],
    ],
  );
  assert.deepEqual(r.skipped, ["f/a.yaml document 2 (Device)"]);
});

test("parseFleets: errors name the file, the document and the field", () => {
  const msg = (files: ReturnType<typeof file>[]) => {
    try {
      parseFleets(files, toFleet);
    } catch (e) {
      assert.ok(e instanceof ParseError);
      return e.message;
    }
    assert.fail("no error");
  };
  assert.equal(
    msg([file("f/a.yaml", `${fleet("ok")}---\n${fleet("bad")}`)]),
    'f/a.yaml document 1 (Fleet "bad"): spec.template: is required',
  );
  assert.match(msg([file("f/a.yaml", "kind: Fleet\nmetadata: {name: [unclosed\n")]), /^f\/a\.yaml: document 0: /);
  assert.equal(msg([file("f/a.yaml", "metadata:\n  name: x\n")]), "f/a.yaml document 0: kind: is required");
  assert.equal(msg([file("f/a.yaml", "kind: Fleet\nmetadata: {}\n")]), "f/a.yaml document 0: metadata.name: is required");
  assert.equal(
    msg([file("f/a.yaml", fleet("x")), file("f/b.yaml", fleet("x"))]),
    'f/b.yaml document 0: Fleet "x" is also defined in f/a.yaml document 0',
  );
});
