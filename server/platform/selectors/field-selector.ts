// Field selectors: Kubernetes syntax plus flightctl's extensions (ordering operators, in/notin, contains,
// existence), checked against the kind's field table and compiled to SQL with every value bound as a parameter.
import { sql, type SQL } from "drizzle-orm";
import { invalid } from "../errors.js";
import { parseSelector, type SelectorOperator } from "./syntax.js";
import { quote } from "../../../lib/quote.js";
import type { FieldDef, FieldTable, FieldType } from "./fields.js";

/** "exists" is a bare `field`, "!" is `!field`; `==` is normalized to "=". */
export type FieldOperator = "=" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "notin" | "contains" | "notcontains" | "exists" | "!";

export interface FieldRequirement {
  field: string;
  def: FieldDef;
  op: FieldOperator;
  /** Checked and normalized for the field's type (bools are "true"/"false", uuids lowercase canonical). */
  values: string[];
}

const ordering: SelectorOperator[] = [">", ">=", "<", "<="];
const equality: SelectorOperator[] = ["=", "==", "!=", "in", "notin"];
const existence: SelectorOperator[] = ["exists", "!"];

/** The operators each field type accepts (flightctl's internal/store/selector/field.go). */
export const operatorsByType: Record<FieldType, SelectorOperator[]> = {
  string: [...equality, "contains", "notcontains", ...existence],
  timestamp: [...equality, ...ordering, ...existence],
  number: [...equality, ...ordering, ...existence],
  uuid: [...equality, ...ordering, ...existence],
  bool: [...equality, ...existence],
  array: ["contains", "notcontains", "in", "notin", ...existence],
};

const show = (op: SelectorOperator) => (op === "exists" ? "field (exists)" : op === "!" ? "!field (does not exist)" : op);

const fail = (message: string) => invalid({ field: "fieldSelector", message });

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/;

/** Go's time.Parse(time.RFC3339, v) acceptance, minus year 0 (which Postgres cannot store). */
function isRfc3339(v: string): boolean {
  const m = RFC3339.exec(v);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = m[8] === "Z" || (Number(m[9]) < 24 && Number(m[10]) < 60);
  return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60 && offsetOk;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const BOOLS: Record<string, string> = {
  "1": "true",
  t: "true",
  T: "true",
  true: "true",
  TRUE: "true",
  True: "true",
  "0": "false",
  f: "false",
  F: "false",
  false: "false",
  FALSE: "false",
  False: "false",
};
const UUID = /^(?:urn:uuid:|\{)?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** Checks a value against the field type and returns it normalized. */
function checkValue(field: string, type: FieldType, v: string): string {
  const bad = (what: string) => fail(`value ${quote(v)} of field ${quote(field)} is not ${what}`);
  switch (type) {
    case "timestamp":
      if (!isRfc3339(v)) throw bad("an RFC 3339 timestamp (e.g. 2024-01-02T15:04:05Z)");
      return v;
    case "number":
      if (!NUMBER.test(v)) throw bad("a number");
      return v;
    case "bool":
      if (!(v in BOOLS)) throw bad("a boolean (true or false)");
      return BOOLS[v];
    case "uuid": {
      const m = UUID.exec(v);
      if (!m || v.startsWith("{") !== v.endsWith("}")) throw bad("a UUID");
      return m.slice(1, 6).join("-").toLowerCase();
    }
    default:
      return v;
  }
}

/**
 * Parses a field selector against the fields of one kind. Errors (InvalidArgument on "fieldSelector") name the
 * problem and where: syntax with position, unknown fields with the kind's supported fields, operators the field's type
 * does not support with the ones it does, values that are not of the field's type.
 */
export function parseFieldSelector(text: string, fields: FieldTable): FieldRequirement[] {
  return parseSelector(text, "field", fail).map((r) => {
    const def = Object.hasOwn(fields, r.key) ? fields[r.key] : undefined;
    if (!def) throw fail(`unknown field ${quote(r.key)}; supported fields: ${Object.keys(fields).sort().join(", ")}`);
    const allowed = operatorsByType[def.type];
    if (!allowed.includes(r.op)) {
      throw fail(
        `operator "${r.op}" is not supported for field ${quote(r.key)} of type ${def.type}; ` +
          `supported operators: ${allowed.map(show).join(", ")}`,
      );
    }
    const values = def.type === "array" ? r.values : [...new Set(r.values.map((v) => checkValue(r.key, def.type, v)))];
    return { field: r.key, def, op: r.op === "==" ? "=" : r.op, values };
  });
}

/** A value bound with the field's SQL type, so comparisons are typed (timestamps, numbers, booleans, uuids). */
function typed(type: FieldType, v: string): SQL {
  switch (type) {
    case "timestamp":
      return sql`${v}::timestamptz`;
    case "number":
      return sql`${v}::numeric`;
    case "bool":
      return sql`${v}::boolean`;
    case "uuid":
      return sql`${v}::uuid`;
    default:
      return sql`${v}`;
  }
}

/** LIKE pattern for "contains": the value is literal (%, _ and \ escaped). */
const containsPattern = (v: string) => `%${v.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
const textArray = (values: string[]) =>
  sql`array[${sql.join(
    values.map((v) => sql`${v}`),
    sql`, `,
  )}]::text[]`;

/** The positive condition of one operator on one expression; negations wrap it below. */
function positive(e: SQL, type: FieldType, op: FieldOperator, values: string[]): SQL {
  switch (op) {
    case "=":
    case "!=":
      return sql`${e} = ${typed(type, values[0])}`;
    case ">":
      return sql`${e} > ${typed(type, values[0])}`;
    case ">=":
      return sql`${e} >= ${typed(type, values[0])}`;
    case "<":
      return sql`${e} < ${typed(type, values[0])}`;
    case "<=":
      return sql`${e} <= ${typed(type, values[0])}`;
    case "in":
    case "notin":
      // Arrays: overlap (any element equals any value).
      if (type === "array") return sql`${e} ?| ${textArray(values)}`;
      return values.length === 1
        ? sql`${e} = ${typed(type, values[0])}`
        : sql`${e} in (${sql.join(
            values.map((v) => typed(type, v)),
            sql`, `,
          )})`;
    case "contains":
    case "notcontains":
      if (type === "array") return sql`${e} ? ${values[0]}`;
      return sql`${e} like ${containsPattern(values[0])}`;
    case "exists":
    case "!":
      return sql`${e} is not null`;
  }
}

const negated = new Set<FieldOperator>(["!=", "notin", "notcontains", "!"]);

/**
 * The requirements as one SQL condition (AND). Positive forms stay bare so expression indexes apply. Negations hold
 * when the field is absent (NULL), as in Kubernetes and flightctl (`status.summary.status!=Online` includes devices
 * without a status). A field with several expressions matches if any does; its negation if none does.
 */
export function fieldRequirementsToSql(reqs: FieldRequirement[]): SQL {
  if (reqs.length === 0) return sql`true`;
  const parts = reqs.map((r) => {
    const exprs = Array.isArray(r.def.sql) ? r.def.sql : [r.def.sql];
    if (r.op === "!")
      return sql`(${sql.join(
        exprs.map((e) => sql`${e} is null`),
        sql` and `,
      )})`;
    const conds = exprs.map((e) => positive(e, r.def.type, r.op, r.values));
    const any = conds.length === 1 ? conds[0] : sql`(${sql.join(conds, sql` or `)})`;
    return negated.has(r.op) ? sql`not coalesce(${any}, false)` : sql`(${any})`;
  });
  return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` and `)})`;
}
