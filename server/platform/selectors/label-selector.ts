// Kubernetes label selectors ("k=v,k!=v,k in (a,b),k notin (a,b),k,!k"), as flightctl accepts them, compiled to
// SQL over a jsonb labels column in forms the GIN index serves (@> containment, ? existence).
import { sql, type SQL } from "drizzle-orm";
import { invalid } from "../errors.js";
import { labelKeyProblem, labelValueProblem } from "../validation/names.js";

export type LabelOperator = "=" | "!=" | "in" | "notin" | "exists" | "!";

/** One requirement; all requirements of a selector must hold. */
export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  values: string[];
}

const fail = (message: string) => invalid({ field: "labelSelector", message });

/** Splits on commas that are not inside parentheses. */
export function splitTopLevel(text: string, what: string, fail_: (m: string) => Error): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (depth < 0) throw fail_(`unbalanced ")" in ${what}`);
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (depth !== 0) throw fail_(`unbalanced "(" in ${what}`);
  parts.push(cur);
  return parts.map((p) => p.trim());
}

/** Parses "(a, b)" into ["a", "b"]. */
export function parseValueSet(text: string, fail_: (m: string) => Error): string[] {
  const m = /^\((.*)\)$/s.exec(text.trim());
  if (!m) throw fail_(`expected a parenthesized list of values, got "${text.trim()}"`);
  const values = m[1].split(",").map((v) => v.trim());
  if (values.length === 1 && values[0] === "") throw fail_("the list of values must not be empty");
  return values;
}

function checkKey(key: string) {
  const p = labelKeyProblem(key);
  if (p) throw fail(`invalid key "${key}": ${p}`);
}
function checkValue(key: string, value: string) {
  const p = labelValueProblem(value);
  if (p) throw fail(`invalid value "${value}" for key "${key}": ${p}`);
}

export function parseLabelSelector(text: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  if (text.trim() === "") return reqs;
  for (const part of splitTopLevel(text, "labelSelector", fail)) {
    if (part === "") throw fail(`empty requirement in "${text}"`);
    let m: RegExpExecArray | null;
    if ((m = /^([^\s!=(),]+)\s+(in|notin)\s*(\(.*\))$/s.exec(part))) {
      const values = parseValueSet(m[3], fail);
      checkKey(m[1]);
      values.forEach((v) => checkValue(m![1], v));
      reqs.push({ key: m[1], op: m[2] as LabelOperator, values });
    } else if ((m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(part))) {
      checkKey(m[1]);
      checkValue(m[1], m[3]);
      reqs.push({ key: m[1], op: m[2] === "!=" ? "!=" : "=", values: [m[3]] });
    } else if ((m = /^!\s*([^\s!=(),]+)$/.exec(part))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: "!", values: [] });
    } else if ((m = /^([^\s!=(),]+)$/.exec(part))) {
      checkKey(m[1]);
      reqs.push({ key: m[1], op: "exists", values: [] });
    } else {
      throw fail(`cannot parse "${part}": expected key=value, key!=value, key in (…), key notin (…), key or !key`);
    }
  }
  return reqs;
}

/** A LabelSelector message (fleet selectors): matchLabels and matchExpressions as requirements. */
export function labelSelectorFromMessage(sel: {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key?: string; operator?: string; values?: string[] }[];
}): LabelRequirement[] {
  const reqs: LabelRequirement[] = Object.entries(sel.matchLabels ?? {}).map(([key, v]) => ({ key, op: "=", values: [v] }));
  const ops: Record<string, LabelOperator> = { In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!" };
  for (const e of sel.matchExpressions ?? []) {
    const op = ops[e.operator ?? ""];
    if (!op) throw invalid({ field: "selector.matchExpressions", message: `unknown operator "${e.operator}"` });
    reqs.push({ key: e.key ?? "", op, values: e.values ?? [] });
  }
  return reqs;
}

const contains = (column: SQL, key: string, value: string) => sql`${column} @> ${JSON.stringify({ [key]: value })}::jsonb`;

export function labelRequirementsToSql(reqs: LabelRequirement[], column: SQL = sql`labels`): SQL {
  if (reqs.length === 0) return sql`true`;
  // All equalities become ONE containment ({"a":"1","b":"2"}): a single GIN probe the planner costs well, rather
  // than an AND of probes where one unselective key (say tier=edge) makes it intersect huge bitmaps.
  const equal = new Map<string, string>();
  let conflicting = false; // "env=a,env=b" matches nothing
  for (const r of reqs.filter((x) => x.op === "=")) {
    if (equal.has(r.key) && equal.get(r.key) !== r.values[0]) conflicting = true;
    equal.set(r.key, r.values[0]);
  }
  const parts: SQL[] = [];
  if (conflicting) parts.push(sql`false`);
  else if (equal.size > 0) parts.push(sql`${column} @> ${JSON.stringify(Object.fromEntries(equal))}::jsonb`);
  for (const r of reqs.filter((x) => x.op !== "=")) parts.push(requirementSql(r, column));
  return sql.join(parts, sql` and `);
}

function requirementSql(r: LabelRequirement, column: SQL): SQL {
  switch (r.op) {
    case "=":
      return contains(column, r.key, r.values[0]);
    case "!=":
      return sql`not (${contains(column, r.key, r.values[0])})`;
    case "in":
      return sql`(${sql.join(r.values.map((v) => contains(column, r.key, v)), sql` or `)})`;
    case "notin":
      return sql`not (${sql.join(r.values.map((v) => contains(column, r.key, v)), sql` or `)})`;
    case "exists":
      return sql`${column} ? ${r.key}`;
    case "!":
      return sql`not (${column} ? ${r.key})`;
  }
}
