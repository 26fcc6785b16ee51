// Fleet templates: the subset of Go text/template flightctl accepts inside {{ }} in a device template.
// Only .metadata.name and .metadata.labels (with `index` for odd keys) may be read; only a handful of functions and
// if/else/with/end are allowed. This is a token-level check, enough to refuse anything outside the subset.

const functions = new Set(["upper", "lower", "replace", "getOrDefault", "index", "eq", "ne", "lt", "gt", "le", "ge", "and", "or", "not", "len"]);
const keywords = new Set(["if", "else", "with", "end"]);
const forbiddenKeywords = new Set(["range", "define", "template", "block", "break", "continue", "call"]);

/** Problems of the template expressions in `text`, or undefined when it has none or all are allowed. */
export function templateProblem(text: string): string | undefined {
  const open = (text.match(/\{\{/g) ?? []).length;
  const close = (text.match(/\}\}/g) ?? []).length;
  if (open !== close) return "has unbalanced {{ }}";
  for (const m of text.matchAll(/\{\{-?\s*(.*?)\s*-?\}\}/gs)) {
    const body = m[1];
    const tokens = body.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|[$.A-Za-z_][\w.$-]*|\d+|[()|]|\S/g) ?? [];
    for (const t of tokens) {
      if (/^["`]/.test(t) || /^\d+$/.test(t) || t === "(" || t === ")" || t === "|") continue;
      if (forbiddenKeywords.has(t)) return `uses "${t}", which fleet templates do not support`;
      if (keywords.has(t) || functions.has(t)) continue;
      if (t === "." || t === "$") continue;
      if (/^\$?\.metadata\.name$/.test(t) || /^\$?\.metadata\.labels(\.[A-Za-z0-9_]+)?$/.test(t)) continue;
      if (/^\$?\./.test(t)) return `reads "${t}"; only .metadata.name and .metadata.labels are available`;
      return `uses "${t}", which is not an allowed function (${[...functions].join(", ")})`;
    }
  }
  return undefined;
}
