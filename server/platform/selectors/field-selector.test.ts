// Field selector parsing: every operator per field type, flightctl's field-lexer rules (escapes, symbols inside
// values), every error, and the per-kind field tables.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { DomainError } from "../errors.js";
import { fieldRequirementsToSql, operatorsByType, parseFieldSelector } from "./field-selector.js";
import { fieldsByKind, type FieldTable } from "./fields.js";

function refused(fn: () => unknown, ...fragments: string[]) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DomainError && e.kind === "invalid", `expected an invalid DomainError, got ${String(e)}`);
    assert.ok(e.message.startsWith("fieldSelector: "), e.message);
    assert.deepEqual(
      e.violations.map((v) => v.field),
      ["fieldSelector"],
    );
    for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
    return true;
  });
}

const device = fieldsByKind.Device;
const er = fieldsByKind.EnrollmentRequest;
const parsed = (text: string, fields: FieldTable = device) => parseFieldSelector(text, fields).map((r) => [r.field, r.op, r.values]);

/** A table with one field of each type, for operator coverage. */
const typed: FieldTable = {
  s: { type: "string", sql: sql`s` },
  t: { type: "timestamp", sql: sql`t` },
  n: { type: "number", sql: sql`n` },
  b: { type: "bool", sql: sql`b` },
  u: { type: "uuid", sql: sql`u` },
  a: { type: "array", sql: sql`a` },
};

describe("parseFieldSelector", () => {
  test("every operator, == normalized, comma is AND", () => {
    assert.deepEqual(
      parsed(
        "metadata.name==a, status.summary.status!=Online,lastSeen>=2024-01-01T00:00:00Z,lastSeen<2025-01-01T00:00:00.5+02:00," +
          "metadata.creationTimestamp>2020-01-01T00:00:00Z,metadata.creationTimestamp<=2030-12-31T23:59:59Z," +
          "metadata.alias contains x,metadata.alias notcontains y,metadata.owner,!status.lifecycle.status," +
          "metadata.name in (a, b),metadata.name notin (c),metadata.name=z",
      ),
      [
        ["metadata.name", "=", ["a"]],
        ["status.summary.status", "!=", ["Online"]],
        ["lastSeen", ">=", ["2024-01-01T00:00:00Z"]],
        ["lastSeen", "<", ["2025-01-01T00:00:00.5+02:00"]],
        ["metadata.creationTimestamp", ">", ["2020-01-01T00:00:00Z"]],
        ["metadata.creationTimestamp", "<=", ["2030-12-31T23:59:59Z"]],
        ["metadata.alias", "contains", ["x"]],
        ["metadata.alias", "notcontains", ["y"]],
        ["metadata.owner", "exists", []],
        ["status.lifecycle.status", "!", []],
        ["metadata.name", "in", ["a", "b"]],
        ["metadata.name", "notin", ["c"]],
        ["metadata.name", "=", ["z"]],
      ],
    );
    assert.deepEqual(parsed(""), []);
    assert.deepEqual(parsed("  "), []);
  });

  test("values: symbols after the operator, backslash escapes, empty values", () => {
    assert.deepEqual(parsed("metadata.owner=Fleet/a=b!c<d>e"), [["metadata.owner", "=", ["Fleet/a=b!c<d>e"]]]);
    assert.deepEqual(parsed("metadata.name in (a=b, c!=d)"), [["metadata.name", "in", ["a=b", "c!=d"]]]);
    assert.deepEqual(parsed("metadata.name=a\\,b,metadata.alias=my\\ box\\(1\\)"), [
      ["metadata.name", "=", ["a,b"]],
      ["metadata.alias", "=", ["my box(1)"]],
    ]);
    assert.deepEqual(parsed("metadata.owner="), [["metadata.owner", "=", [""]]]);
    assert.deepEqual(parsed("metadata.owner!=,metadata.name"), [
      ["metadata.owner", "!=", [""]],
      ["metadata.name", "exists", []],
    ]);
    assert.deepEqual(parsed("metadata.name=(a)"), [["metadata.name", "=", ["a"]]]);
    assert.deepEqual(parsed("metadata.alias contains in"), [["metadata.alias", "contains", ["in"]]]);
  });

  test("each type accepts exactly its operators", () => {
    const samples: Record<string, string> = {
      s: "x",
      t: "2024-01-01T00:00:00Z",
      n: "1",
      b: "true",
      u: "00000000-0000-0000-0000-000000000001",
      a: "x",
    };
    const forms: Record<string, (f: string, v: string) => string> = {
      "=": (f, v) => `${f}=${v}`,
      "==": (f, v) => `${f}==${v}`,
      "!=": (f, v) => `${f}!=${v}`,
      ">": (f, v) => `${f}>${v}`,
      ">=": (f, v) => `${f}>=${v}`,
      "<": (f, v) => `${f}<${v}`,
      "<=": (f, v) => `${f}<=${v}`,
      in: (f, v) => `${f} in (${v})`,
      notin: (f, v) => `${f} notin (${v})`,
      contains: (f, v) => `${f} contains ${v}`,
      notcontains: (f, v) => `${f} notcontains ${v}`,
      exists: (f) => f,
      "!": (f) => `!${f}`,
    };
    for (const [field, def] of Object.entries(typed)) {
      for (const [op, form] of Object.entries(forms)) {
        const text = form(field, samples[field]);
        if ((operatorsByType[def.type] as string[]).includes(op)) {
          assert.equal(parseFieldSelector(text, typed).length, 1, text);
        } else {
          refused(
            () => parseFieldSelector(text, typed),
            `operator "${op}"`,
            `field "${field}"`,
            `type ${def.type}`,
            "supported operators:",
          );
        }
      }
    }
    assert.deepEqual(operatorsByType.bool, ["=", "==", "!=", "in", "notin", "exists", "!"]);
    assert.deepEqual(operatorsByType.array, ["contains", "notcontains", "in", "notin", "exists", "!"]);
  });

  test("values are checked and normalized per type", () => {
    assert.deepEqual(parsed("status.approval.approved in (T, 0, False, TRUE)", er), [
      ["status.approval.approved", "in", ["true", "false"]],
    ]);
    assert.deepEqual(
      parsed(
        "u={00000000-0000-0000-0000-00000000000A},u in (urn:uuid:00000000-0000-0000-0000-00000000000b, 0000000000000000000000000000000c)",
        typed,
      ),
      [
        ["u", "=", ["00000000-0000-0000-0000-00000000000a"]],
        ["u", "in", ["00000000-0000-0000-0000-00000000000b", "00000000-0000-0000-0000-00000000000c"]],
      ],
    );
    assert.deepEqual(parsed("n>-1.5e3,n<=.5,n!=+7", typed), [
      ["n", ">", ["-1.5e3"]],
      ["n", "<=", [".5"]],
      ["n", "!=", ["+7"]],
    ]);
    assert.deepEqual(parsed("t=2024-02-29T23:59:59.999999-11:30", typed), [["t", "=", ["2024-02-29T23:59:59.999999-11:30"]]]);

    for (const v of [
      "yesterday",
      "2024-01-01",
      "2024-01-01 00:00:00Z",
      "2024-01-01T00:00:00",
      "2023-02-29T00:00:00Z",
      "2024-13-01T00:00:00Z",
      "2024-01-01T24:00:00Z",
      "2024-01-01T00:60:00Z",
      "2024-01-01T00:00:60Z",
      "2024-01-01T00:00:00+25:00",
      "0000-01-01T00:00:00Z",
      "2024-01-01t00:00:00z",
      "",
    ]) {
      refused(() => parseFieldSelector(`lastSeen>${v.replace(/ /g, "\\ ")}`, device), `value "${v}"`, 'field "lastSeen"', "RFC 3339");
    }
    refused(
      () => parseFieldSelector("metadata.creationTimestamp in (2024-01-01T00:00:00Z, soon)", device),
      'value "soon"',
      "metadata.creationTimestamp",
    );
    for (const v of ["maybe", "yes", "", "2"])
      refused(() => parseFieldSelector(`status.approval.approved=${v}`, er), `value "${v}"`, "status.approval.approved", "boolean");
    for (const v of ["one", "0x10", "1e", "", "Infinity"])
      refused(() => parseFieldSelector(`n=${v}`, typed), `value "${v}"`, 'field "n"', "a number");
    for (const v of ["nope", "00000000-0000-0000-0000-00000000000", "{00000000-0000-0000-0000-000000000000"])
      refused(() => parseFieldSelector(`u=${v}`, typed), `value "${v}"`, "a UUID");
  });

  test("unknown fields list every supported field of the kind", () => {
    refused(
      () => parseFieldSelector("status.foo=1", device),
      'unknown field "status.foo"; supported fields: lastSeen, metadata.alias, metadata.creationTimestamp, metadata.name, metadata.nameOrAlias, metadata.owner, ' +
        "status.applicationsSummary.status, status.capabilities.osMode, status.lifecycle.status, status.summary.status, status.updated.status",
    );
    refused(
      () => parseFieldSelector("metadata.name=a,!nope", fieldsByKind.Fleet),
      'unknown field "nope"',
      "spec.template.spec.os.image",
      "metadata.owner",
    );
    refused(() => parseFieldSelector("metadata.labels.env=prod", device), 'unknown field "metadata.labels.env"');
    refused(() => parseFieldSelector("constructor=1", device), 'unknown field "constructor"');
    refused(() => parseFieldSelector("Metadata.Name=a", device), 'unknown field "Metadata.Name"');
  });

  test("syntax errors say what was found where", () => {
    refused(
      () => parseFieldSelector("metadata.name = a b", device),
      'cannot parse "metadata.name = a b"',
      "found 'b' at position 19",
      "expected ',' or end of input",
    );
    refused(() => parseFieldSelector("metadata.name in (a", device), "found end of input", "expected ',' or ')'");
    refused(() => parseFieldSelector("metadata.name in a", device), "found 'a' at position 18", "expected '('");
    refused(() => parseFieldSelector("metadata.name=!a", device), "found '!' at position 15", "expected a value");
    refused(() => parseFieldSelector("metadata.name=a(", device), "found '(' at position 16");
    refused(() => parseFieldSelector("metadata.name=(a,b)", device), 'operator "=" of key "metadata.name" takes exactly one value, got 2');
    refused(() => parseFieldSelector("metadata.name foo", device), "found 'foo' at position 15", "expected an operator");
    refused(() => parseFieldSelector("metadata.name=a,,b", device), "found ',' at position 17");
    refused(() => parseFieldSelector("(metadata.name,metadata.owner)=(a,b)", device), "keysets", "not supported");
  });
});

describe("fieldsByKind", () => {
  test("every resource kind has flightctl's metadata fields", () => {
    for (const kind of [
      "Device",
      "Fleet",
      "TemplateVersion",
      "EnrollmentRequest",
      "CertificateSigningRequest",
      "Repository",
      "ResourceSync",
      "AuthProvider",
      "Event",
    ]) {
      for (const f of ["metadata.name", "metadata.owner", "metadata.creationTimestamp"]) assert.ok(fieldsByKind[kind][f], `${kind} ${f}`);
      assert.equal(fieldsByKind[kind]["metadata.creationTimestamp"].type, "timestamp");
    }
    assert.deepEqual(Object.keys(fieldsByKind.Organization), ["metadata.name"]);
    assert.equal(fieldsByKind.Organization["metadata.name"].type, "uuid");
    assert.equal(fieldsByKind.EnrollmentRequest["status.approval.approved"].type, "bool");
    assert.deepEqual(Object.keys(fieldsByKind.Event).sort(), [
      "actor",
      "involvedObject.kind",
      "involvedObject.name",
      "metadata.creationTimestamp",
      "metadata.name",
      "metadata.owner",
      "reason",
      "type",
    ]);
  });

  test("device status and alias expressions are written like their expression indexes", () => {
    const dialect = new PgDialect();
    const text = (field: string) => {
      const e = device[field].sql;
      return dialect.sqlToQuery(Array.isArray(e) ? e[0] : e).sql;
    };
    assert.equal(text("status.summary.status"), "(status->'summary'->>'status')");
    assert.equal(text("status.updated.status"), "(status->'updated'->>'status')");
    assert.equal(text("status.applicationsSummary.status"), "(status->'applicationsSummary'->>'status')");
    assert.equal(text("status.lifecycle.status"), "(status->'lifecycle'->>'status')");
    assert.equal(text("metadata.alias"), "(labels->>'alias')");
  });

  test("values are bound parameters, never SQL text", () => {
    const dialect = new PgDialect();
    const q = dialect.sqlToQuery(
      fieldRequirementsToSql(parseFieldSelector("metadata.name=x';drop\\ table\\ devices;--,metadata.alias contains 50%_off", device)),
    );
    assert.ok(!q.sql.includes("drop table"), q.sql);
    assert.deepEqual(q.params, ["x';drop table devices;--", "%50\\%\\_off%"]);
  });
});
