// Field selectors: Kubernetes syntax plus flightctl's extensions (ordering operators, in/notin, contains, existence),
// checked against the kind's field table and compiled to SQL with every value bound as a parameter.
import { sql, type SQL } from "drizzle-orm";
import { invalid } from "../errors.js";
import { parseValueSet, splitTopLevel } from "./label-selector.js";
import type { FieldDef, FieldTable, FieldType } from "./fields.js";

export type FieldOperator = "=" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "notin" | "contains" | "notcontains" | "exists" | "!";

export interface FieldRequirement {
  field: string;
  def: FieldDef;
  op: FieldOperator;
  values: string[];
}

const allowed: Record<FieldType, FieldOperator[]> = {
  string: ["=", "!=", "in", "notin", "contains", "notcontains", "exists", "!"],
  timestamp: ["=", "!=", ">", ">=", "<", "<=", "in", "notin", "exists", "!"],
  number: ["=", "!=", ">", ">=", "<", "<=", "in", "notin", "exists", "!"],
  bool: ["=", "!=", "in", "notin", "exists", "!"],
  array: ["contains", "notcontains", "in", "notin", "exists", "!"],
};

const fail = (message: string) => invalid({ field: "fieldSelector", message });
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function checkValue(field: string, type: FieldType, v: string) {
  if (type === "timestamp" && !(rfc3339.test(v) && !Number.isNaN(Date.parse(v)))) {
    throw fail(`value "${v}" of field "${field}" must be an RFC 3339 timestamp, e.g. 2024-01-02T15:04:05Z`);
  }
  if (type === "number" && !(v !== "" && Number.isFinite(Number(v)))) throw fail(`value "${v}" of field "${field}" must be a number`);
  if (type === "bool" && v !== "true" && v !== "false") throw fail(`value "${v}" of field "${field}" must be true or false`);
}

function lookup(field: string, fields: FieldTable): FieldDef {
  const def = fields[field];
  if (!def) throw fail(`unknown field "${field}"; supported fields: ${Object.keys(fields).sort().join(", ")}`);
  return def;
}

export function parseFieldSelector(text: string, fields: FieldTable): FieldRequirement[] {
  const reqs: FieldRequirement[] = [];
  if (text.trim() === "") return reqs;
  for (const part of splitTopLevel(text, "fieldSelector", fail)) {
    if (part === "") throw fail(`empty requirement in "${text}"`);
    let m: RegExpExecArray | null;
    let field: string;
    let op: FieldOperator;
    let values: string[] = [];
    if ((m = /^([A-Za-z0-9_.]+)\s+(in|notin)\s*(\(.*\))$/s.exec(part))) {
      [field, op, values] = [m[1], m[2] as FieldOperator, parseValueSet(m[3], fail)];
    } else if ((m = /^([A-Za-z0-9_.]+)\s+(contains|notcontains)\s+(.+)$/s.exec(part))) {
      [field, op, values] = [m[1], m[2] as FieldOperator, [m[3].trim()]];
    } else if ((m = /^([A-Za-z0-9_.]+)\s*(==|!=|>=|<=|=|>|<)\s*(.*)$/s.exec(part))) {
      [field, op, values] = [m[1], (m[2] === "==" ? "=" : m[2]) as FieldOperator, [m[3].trim()]];
    } else if ((m = /^!\s*([A-Za-z0-9_.]+)$/.exec(part))) {
      [field, op] = [m[1], "!"];
    } else if ((m = /^([A-Za-z0-9_.]+)$/.exec(part))) {
      [field, op] = [m[1], "exists"];
    } else {
      throw fail(`cannot parse "${part}": expected field=value, field!=value, field>value, field in (…), field contains value, field or !field`);
    }
    const def = lookup(field, fields);
    if (!allowed[def.type].includes(op)) {
      throw fail(`operator "${op}" is not supported for field "${field}" (${def.type}); use one of: ${allowed[def.type].join(", ")}`);
    }
    if (def.type !== "array") values.forEach((v) => checkValue(field, def.type, v));
    reqs.push({ field, def, op, values });
  }
  return reqs;
}

/** Binds a value with the SQL type of the field, so comparisons are typed (timestamps, numbers, booleans). */
function typed(type: FieldType, v: string): SQL {
  if (type === "timestamp") return sql`${v}::timestamptz`;
  if (type === "number") return sql`${v}::numeric`;
  if (type === "bool") return sql`${v}::boolean`;
  return sql`${v}`;
}

const likeEscape = (v: string) => v.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The positive condition of one operator on one expression (negations wrap it in NOT below). */
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
      if (type === "array") return sql`${e} ?| ${values}::text[]`;
      return sql`${e} in (${sql.join(values.map((v) => typed(type, v)), sql`, `)})`;
    case "contains":
    case "notcontains":
      if (type === "array") return sql`${e} ? ${values[0]}`;
      return sql`${e} ilike ${`%${likeEscape(values[0])}%`}`;
    case "exists":
    case "!":
      return sql`${e} is not null`;
  }
}

const negated = new Set<FieldOperator>(["!=", "notin", "notcontains", "!"]);

export function fieldRequirementsToSql(reqs: FieldRequirement[]): SQL {
  if (reqs.length === 0) return sql`true`;
  return sql.join(
    reqs.map((r) => {
      const exprs = Array.isArray(r.def.sql) ? r.def.sql : [r.def.sql];
      const any = sql`(${sql.join(exprs.map((e) => positive(e, r.def.type, r.op, r.values)), sql`) or (`)})`;
      // Positive forms stay bare so expression indexes apply. Negations treat a missing value as "no match" first,
      // so it matches the negation (Kubernetes semantics: "status!=Online" includes objects without a status).
      return negated.has(r.op) ? sql`not coalesce(${any}, false)` : any;
    }),
    sql` and `,
  );
}
