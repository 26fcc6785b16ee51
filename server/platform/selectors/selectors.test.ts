// Selector parsing (every operator and error) and the SQL it compiles to, run against the real devices table.
import { assertNoOpenHandles } from "../../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { drizzle } from "drizzle-orm/node-postgres";
import { sql, type SQL } from "drizzle-orm";
import { createTestDatabase, type TestDatabase } from "../../../test/helpers/db.js";
import { DomainError } from "../errors.js";
import { labelRequirementsToSql, labelSelectorFromMessage, parseLabelSelector } from "./label-selector.js";
import { fieldRequirementsToSql, parseFieldSelector } from "./field-selector.js";
import { fieldsByKind } from "./fields.js";

const refused = (fn: () => unknown, field: string, ...fragments: string[]) =>
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DomainError && e.kind === "invalid", String(e));
    assert.ok(e.message.startsWith(`${field}: `), e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return true;
  });

describe("label selector parsing", () => {
  test("every operator", () => {
    assert.deepEqual(parseLabelSelector("a=1, b==2,c!=3, d in (x, y),e notin (z),f,!g"), [
      { key: "a", op: "=", values: ["1"] },
      { key: "b", op: "=", values: ["2"] },
      { key: "c", op: "!=", values: ["3"] },
      { key: "d", op: "in", values: ["x", "y"] },
      { key: "e", op: "notin", values: ["z"] },
      { key: "f", op: "exists", values: [] },
      { key: "g", op: "!", values: [] },
    ]);
    assert.deepEqual(parseLabelSelector("example.com/tier="), [{ key: "example.com/tier", op: "=", values: [""] }]);
    assert.deepEqual(parseLabelSelector(""), []);
  });
  test("errors name labelSelector and say what is wrong", () => {
    refused(() => parseLabelSelector("a in (b"), "labelSelector", "unbalanced");
    refused(() => parseLabelSelector("a=b,,c"), "labelSelector", "empty requirement");
    refused(() => parseLabelSelector("bad key=1"), "labelSelector", "cannot parse");
    refused(() => parseLabelSelector("-a=1"), "labelSelector", "invalid key");
    refused(() => parseLabelSelector(`a=${"x".repeat(64)}`), "labelSelector", "invalid value");
    refused(() => parseLabelSelector("a in ()"), "labelSelector", "must not be empty");
  });
  test("LabelSelector messages become the same requirements", () => {
    assert.deepEqual(
      labelSelectorFromMessage({ matchLabels: { a: "1" }, matchExpressions: [{ key: "b", operator: "NotIn", values: ["x"] }, { key: "c", operator: "DoesNotExist" }] }),
      [{ key: "a", op: "=", values: ["1"] }, { key: "b", op: "notin", values: ["x"] }, { key: "c", op: "!", values: [] }],
    );
  });
});

describe("field selector parsing", () => {
  const device = fieldsByKind.Device;
  test("operators and types", () => {
    const reqs = parseFieldSelector("metadata.name==a,status.summary.status!=Online,lastSeen>=2024-01-01T00:00:00Z,metadata.alias contains x,metadata.owner,!status.lifecycle.status,metadata.name in (a,b)", device);
    assert.deepEqual(reqs.map((r) => [r.field, r.op, r.values]), [
      ["metadata.name", "=", ["a"]],
      ["status.summary.status", "!=", ["Online"]],
      ["lastSeen", ">=", ["2024-01-01T00:00:00Z"]],
      ["metadata.alias", "contains", ["x"]],
      ["metadata.owner", "exists", []],
      ["status.lifecycle.status", "!", []],
      ["metadata.name", "in", ["a", "b"]],
    ]);
  });
  test("unknown fields list the supported ones; operators and values are checked per type", () => {
    refused(() => parseFieldSelector("status.foo=1", device), "fieldSelector", 'unknown field "status.foo"', "status.summary.status", "metadata.nameOrAlias");
    refused(() => parseFieldSelector("metadata.name>a", device), "fieldSelector", 'operator ">"', "metadata.name");
    refused(() => parseFieldSelector("lastSeen>yesterday", device), "fieldSelector", "RFC 3339");
    refused(() => parseFieldSelector("status.approval.approved=maybe", fieldsByKind.EnrollmentRequest), "fieldSelector", "true or false");
    refused(() => parseFieldSelector("status.approval.approved contains t", fieldsByKind.EnrollmentRequest), "fieldSelector", "contains");
    refused(() => parseFieldSelector("a=(", device), "fieldSelector", "unbalanced");
  });
});

describe("compiled SQL against Postgres", () => {
  let db: TestDatabase;
  let run: (where: SQL) => Promise<string[]>;
  before(async () => {
    db = await createTestDatabase();
    const d = drizzle(db.pool);
    run = async (where) => ((await d.execute(sql`select name from devices where ${where} order by name`)).rows as { name: string }[]).map((r) => r.name);
    const org = "00000000-0000-0000-0000-000000000000";
    const rows: [string, object, object | null][] = [
      ["d1", { env: "prod", alias: "kitchen" }, { summary: { status: "Online" } }],
      ["d2", { env: "dev" }, { summary: { status: "Degraded" } }],
      ["d3", { env: "prod", tier: "edge" }, null],
      ["d4", {}, { summary: { status: "Online" } }],
    ];
    for (const [name, labels, status] of rows) {
      await db.pool.query("insert into devices (org_id, name, labels, status) values ($1, $2, $3, $4)", [org, name, JSON.stringify(labels), status && JSON.stringify(status)]);
    }
    await db.pool.query("insert into device_last_seen (org_id, name, last_seen) values ($1, 'd1', '2024-01-01T00:00:00Z'), ($1, 'd2', '2024-06-01T00:00:00Z')", [org]);
  });
  after(async () => {
    await db.drop();
    await assertNoOpenHandles();
  });
  const labels = (s: string) => run(labelRequirementsToSql(parseLabelSelector(s)));
  const fields = (s: string) => run(fieldRequirementsToSql(parseFieldSelector(s, fieldsByKind.Device)));

  test("label operators, with Kubernetes semantics for missing keys", async () => {
    assert.deepEqual(await labels("env=prod"), ["d1", "d3"]);
    assert.deepEqual(await labels("env=prod,tier=edge"), ["d3"]);
    assert.deepEqual(await labels("env=prod,env=dev"), []);
    assert.deepEqual(await labels("env!=prod"), ["d2", "d4"]);
    assert.deepEqual(await labels("env in (dev,prod)"), ["d1", "d2", "d3"]);
    assert.deepEqual(await labels("env notin (prod)"), ["d2", "d4"]);
    assert.deepEqual(await labels("tier"), ["d3"]);
    assert.deepEqual(await labels("!env"), ["d4"]);
  });

  test("field operators: equality, negation of missing values, name-or-alias, contains, timestamps, existence", async () => {
    assert.deepEqual(await fields("status.summary.status=Online"), ["d1", "d4"]);
    assert.deepEqual(await fields("status.summary.status!=Online"), ["d2", "d3"]);
    assert.deepEqual(await fields("status.summary.status notin (Online,Degraded)"), ["d3"]);
    assert.deepEqual(await fields("metadata.nameOrAlias=kitchen"), ["d1"]);
    assert.deepEqual(await fields("metadata.nameOrAlias=d2"), ["d2"]);
    assert.deepEqual(await fields("metadata.alias contains ITCH"), ["d1"]);
    assert.deepEqual(await fields("metadata.name contains %"), []);
    assert.deepEqual(await fields("lastSeen>2024-03-01T00:00:00Z"), ["d2"]);
    assert.deepEqual(await fields("lastSeen"), ["d1", "d2"]);
    assert.deepEqual(await fields("!lastSeen"), ["d3", "d4"]);
    assert.deepEqual(await fields("metadata.name in (d1,d4),status.summary.status=Online"), ["d1", "d4"]);
  });
});
