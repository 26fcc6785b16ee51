// Kubernetes label selectors ("k=v,k!=v,k in (a,b),k notin (a,b),k,!k"), parsed as flightctl parses them and
// compiled to SQL over a jsonb labels column in the forms its GIN index serves (@> containment, ? key existence).
import { sql, type SQL } from "drizzle-orm";
import { invalid } from "../errors.js";
import { labelKeyProblem, labelValueProblem } from "../validation/names.js";
import { parseSelector } from "./syntax.js";
import { quote } from "../../../lib/quote.js";

/** "exists" is a bare `k`, "!" is `!k`; `==` is normalized to "=". */
export type LabelOperator = "=" | "!=" | "in" | "notin" | "exists" | "!";

/** One requirement; all requirements of a selector must hold. */
export interface LabelRequirement {
  key: string;
  op: LabelOperator;
  values: string[];
}

const SUPPORTED = "=, ==, !=, in, notin, key (exists), !key (does not exist)";

function problems(key: string, values: string[], where: string): string | undefined {
  const k = labelKeyProblem(key);
  if (k) return `invalid label key ${quote(key)}${where}: ${k}`;
  for (const v of values) {
    const p = labelValueProblem(v);
    if (p) return `invalid value ${quote(v)} for label key ${quote(key)}${where}: ${p}`;
  }
  return undefined;
}

/**
 * Parses a label selector. Keys must be qualified names (optional DNS-subdomain prefix and "/", then at most 63 of
 * [A-Za-z0-9-_.] starting and ending alphanumeric); values are empty or at most 63 such characters. Errors are
 * InvalidArgument on "labelSelector".
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const fail = (message: string) => invalid({ field: "labelSelector", message });
  return parseSelector(text, "label", fail).map((r) => {
    const at = ` at position ${r.position}`;
    let op: LabelOperator;
    switch (r.op) {
      case "=":
      case "==":
        op = "=";
        break;
      case "!=":
      case "in":
      case "notin":
      case "exists":
      case "!":
        op = r.op;
        break;
      default:
        throw fail(
          `operator "${r.op}" of label key ${quote(r.key)}${at} is not supported in label selectors; supported operators: ${SUPPORTED}`,
        );
    }
    const p = problems(r.key, r.values, at);
    if (p) throw fail(p);
    return { key: r.key, op, values: r.values };
  });
}

/** A LabelSelector message as fleets carry it (`spec.selector`). */
export interface LabelSelectorMessage {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key?: string; operator?: string; values?: string[] }[];
}

/**
 * A LabelSelector message as requirements: matchLabels are equalities, matchExpressions use In, NotIn, Exists,
 * DoesNotExist. Like flightctl (which renders expressions as selector text), In/NotIn without values mean the empty
 * value. Errors are InvalidArgument on `field` (default "spec.selector").
 */
export function labelSelectorFromMessage(sel: LabelSelectorMessage, field = "spec.selector"): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(sel.matchLabels ?? {})) {
    const p = problems(key, [value], "");
    if (p) throw invalid({ field: `${field}.matchLabels`, message: p });
    reqs.push({ key, op: "=", values: [value] });
  }
  const ops: Record<string, LabelOperator> = { In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!" };
  (sel.matchExpressions ?? []).forEach((e, i) => {
    const path = `${field}.matchExpressions[${i}]`;
    const op = ops[e.operator ?? ""];
    if (!op) {
      throw invalid({
        field: `${path}.operator`,
        message: `unknown operator "${e.operator ?? ""}"; supported: In, NotIn, Exists, DoesNotExist`,
      });
    }
    let values = [...new Set(e.values ?? [])];
    if (op === "exists" || op === "!") {
      if (values.length > 0) throw invalid({ field: `${path}.values`, message: `must be empty for operator ${e.operator}` });
    } else if (values.length === 0) values = [""];
    const p = problems(e.key ?? "", values, "");
    if (p) throw invalid({ field: path, message: p });
    reqs.push({ key: e.key ?? "", op, values });
  });
  return reqs;
}

const has = (column: SQL, key: string, value: string) => sql`${column} @> ${JSON.stringify({ [key]: value })}::jsonb`;
/** Kubernetes semantics: objects without the key (or without labels at all) match the negative operators. */
const not = (cond: SQL) => sql`not coalesce(${cond}, false)`;

/**
 * The requirements as one SQL condition over `column` (a jsonb object of string values). All equalities become ONE
 * containment (`labels @> '{"a":"1","b":"2"}'`): a single GIN probe the planner costs well, rather than an AND of
 * probes where one unselective key makes it intersect huge bitmaps. Every key and value is a bound parameter.
 */
export function labelRequirementsToSql(reqs: LabelRequirement[], column: SQL = sql`labels`): SQL {
  if (reqs.length === 0) return sql`true`;
  const equal = new Map<string, string>();
  let contradiction = false; // "env=a,env=b" matches nothing
  const rest: SQL[] = [];
  for (const r of reqs) {
    if (r.op === "=" || (r.op === "in" && r.values.length === 1)) {
      if (equal.has(r.key) && equal.get(r.key) !== r.values[0]) contradiction = true;
      equal.set(r.key, r.values[0]);
      continue;
    }
    switch (r.op) {
      case "!=":
        rest.push(not(has(column, r.key, r.values[0])));
        break;
      case "in":
        rest.push(
          sql`(${sql.join(
            r.values.map((v) => has(column, r.key, v)),
            sql` or `,
          )})`,
        );
        break;
      case "notin":
        rest.push(
          not(
            sql`(${sql.join(
              r.values.map((v) => has(column, r.key, v)),
              sql` or `,
            )})`,
          ),
        );
        break;
      case "exists":
        rest.push(sql`${column} ? ${r.key}`);
        break;
      case "!":
        rest.push(not(sql`${column} ? ${r.key}`));
        break;
    }
  }
  if (contradiction) return sql`false`;
  const parts = equal.size > 0 ? [sql`${column} @> ${JSON.stringify(Object.fromEntries(equal))}::jsonb`, ...rest] : rest;
  return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` and `)})`;
}
