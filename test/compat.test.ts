// flightctl's own example files (../shared/compat/flightctl-examples) must parse into our messages and serialize
// back to the same document, and apply through the API unchanged (creating the Repository they refer to first).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readdirSync, readFileSync } from "node:fs";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { assertNoOpenHandles } from "./helpers/leaks.js";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { decodeJson, parseDocuments } from "../server/platform/codec.js";
import { DomainError } from "../server/platform/errors.js";
import { resourceSchemas } from "../server/platform/resource/schemas.js";
import { kinds } from "../server/app.js";

const root = new URL("./fixtures/flightctl-examples/", import.meta.url);
const files = [
  ...readdirSync(root).filter((f) => /\.ya?ml$/.test(f)),
  ...readdirSync(new URL("test-data/", root)).map((f) => `test-data/${f}`),
];
const BAD = new Set(["test-data/badfleetrequest.yaml"]);
const read = (f: string) => readFileSync(new URL(f, root), "utf8").replaceAll("{{test_id}}", "t1");

/** proto3 cannot tell an empty list from an absent one: drop empty lists before comparing (documented difference). */
function withoutEmptyLists(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(withoutEmptyLists);
  if (v && typeof v === "object") {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) if (!(Array.isArray(x) && x.length === 0)) out[k] = withoutEmptyLists(x);
    return out;
  }
  return v;
}

test("there are examples to check", () => assert.ok(files.length >= 30, `found ${files.length}`));

for (const file of files.filter((f) => !BAD.has(f))) {
  test(`round-trips ${file}`, () => {
    const docs = parseDocuments(read(file));
    assert.ok(docs.length > 0);
    for (const doc of docs) {
      const schema = resourceSchemas[doc.kind as string];
      assert.ok(schema, `no schema for kind ${doc.kind}`);
      assert.deepEqual(toJson(schema, decodeJson(schema, doc)), withoutEmptyLists(doc));
    }
  });
}

test("octal file modes are read as YAML 1.1 (0644 = 420)", () => {
  const doc = parseDocuments(read("device-standalone.yaml"))[0];
  const inline = (((doc.spec as JsonObject).config as JsonObject[])[1].inline as JsonObject[])[0];
  assert.equal(inline.mode, 420);
});

test("the bad fleet example is refused, naming the unknown field", () => {
  const doc = parseDocuments(read("test-data/badfleetrequest.yaml"))[0];
  assert.throws(
    () => decodeJson(resourceSchemas.Fleet, doc),
    (e: unknown) =>
      e instanceof DomainError && e.kind === "invalid" && e.message.includes("spec.rolloutPolicy.disruptionAllowance: unknown field"),
  );
});

test("wrong types name their path", () => {
  assert.throws(
    () =>
      decodeJson(resourceSchemas.Device, {
        metadata: { name: "x" },
        spec: { config: [{ name: "c", inline: [{ path: "/a", content: "", mode: "rw" }] }] },
      }),
    (e: unknown) => e instanceof DomainError && e.message.includes("spec.config[0].inline[0].mode: must be an integer"),
  );
});

// Applying: every example of a kind the API serves is accepted by Replace (create-or-replace, like `flightctl
// apply`), except the ones flightctl itself refuses.
const REFUSED = new Map([
  ["csr-waiting.yml", "spec.signerName"], // signer "ca" is deprecated and refused by flightctl too
  // Its name is not its CSR's common name: flightctl stores it and refuses only at approval; we refuse at once.
  ["test-data/enrollmentrequest-waiting.yaml", "spec.csr"],
]);
let t: TestApp;
before(async () => (t = await startTestApp()));
after(async () => {
  await t.close();
  await assertNoOpenHandles();
});

test("every example applies through the API", async () => {
  const served = new Map(kinds.map((k) => [k.kind, k]));
  // Repositories first: configs refer to them.
  const ordered = [...files].filter((f) => !BAD.has(f)).sort((a, b) => Number(!/repository/.test(a)) - Number(!/repository/.test(b)));
  let applied = 0;
  for (const file of ordered) {
    for (const doc of parseDocuments(read(file))) {
      const def = served.get(doc.kind as string);
      if (!def) continue;
      const client = createClient(def.service, t.transport) as unknown as Record<string, (req: object) => Promise<unknown>>;
      const field = def.kind[0].toLowerCase() + def.kind.slice(1);
      const name = (doc.metadata as JsonObject).name as string;
      const call = client[`replace${def.kind}`]({ name, [field]: decodeJson(def.schema, doc) });
      const refusedField = REFUSED.get(file);
      if (refusedField) {
        await assert.rejects(
          call,
          (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && e.rawMessage.includes(refusedField),
        );
      } else {
        await call;
        applied++;
      }
    }
  }
  assert.ok(applied >= 25, `applied ${applied}`);
});
