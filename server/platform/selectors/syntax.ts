// The selector grammar flightctl inherits from Kubernetes (pkg/k8s/selector), shared by label and field selectors:
//
//   selector    = [requirement {"," requirement}]
//   requirement = ["!"] key                                      exists / does not exist
//               | key ("=" | "==" | "!=" | ">" | ">=" | "<" | "<=" | "contains" | "notcontains") value
//               | key ("in" | "notin") "(" [value {"," value}] ")"
//
// Tokens are separated by whitespace or by the symbols = ! ( ) , > <. The two dialects differ only in the lexer:
// - label: a symbol ends a word everywhere and there are no escapes (label keys and values never contain symbols);
// - field: after the operator only "(", ")" and "," end a value (so `metadata.owner=Fleet/a=b` has value "a=b"), and a
//   backslash escapes the next character (`metadata.name=a\,b`, `metadata.alias=my\ box`).
// Kubernetes quirks kept on purpose: `k=` means "k equals the empty string", `k in ()` means `k in ("")`, duplicate
// values collapse. Keysets (`(a,b) in ((1,2))`) parse in flightctl's fork but are rejected here, as flightctl's field
// selectors do.

import { quote } from "../../../lib/quote.js";

export type SelectorOperator = "=" | "==" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "notin" | "contains" | "notcontains" | "exists" | "!";

/** One requirement as written; the operator is not yet checked against what the key supports. */
export interface ParsedRequirement {
  key: string;
  op: SelectorOperator;
  /** Distinct values in the order written: one for the binary operators, one or more for in/notin, none otherwise. */
  values: string[];
  /** 1-based position of the key in the selector text, for error messages. */
  position: number;
}

export type SelectorDialect = "label" | "field";

type Kind =
  | "ident"
  | "in"
  | "notin"
  | "contains"
  | "notcontains"
  | "eos"
  | "("
  | ")"
  | ","
  | "!"
  | "="
  | "=="
  | "!="
  | ">"
  | ">="
  | "<"
  | "<=";

interface Token {
  kind: Kind;
  text: string;
  /** 0-based index in the selector text. */
  pos: number;
}

const isSpace = (c: string) => c === " " || c === "\t" || c === "\r" || c === "\n";
const SYNTAX = new Set(["=", "!", "(", ")", ",", ">", "<"]);
const VALUE_END = new Set(["(", ")", ","]);
const SYMBOLS = new Set<string>(["=", "==", "!", "!=", ">", ">=", "<", "<=", "(", ")", ","]);
const KEYWORDS = new Set<string>(["in", "notin", "contains", "notcontains"]);

/** Splits the text into tokens; the field dialect tracks where it is (key, operator, value) like flightctl's lexer. */
function lex(text: string, dialect: SelectorDialect): Token[] {
  const tokens: Token[] = [];
  // Field dialect state: what the next word is (key or operator, key, operator, value), and parenthesis depth.
  let ctx: "keyOrOp" | "key" | "op" | "value" = "keyOrOp";
  let depth = 0;
  let i = 0;
  for (;;) {
    while (i < text.length && isSpace(text[i])) i++;
    if (i >= text.length) {
      tokens.push({ kind: "eos", text: "", pos: i });
      return tokens;
    }
    const start = i;
    if (SYNTAX.has(text[i])) {
      const two = text.slice(i, i + 2);
      const sym = SYMBOLS.has(two) ? two : text[i];
      i += sym.length;
      tokens.push({ kind: sym as Kind, text: sym, pos: start });
      if (ctx === "keyOrOp") {
        if (sym !== ",") ctx = "key";
      } else if (ctx === "op") {
        ctx = sym === "," ? "keyOrOp" : "value";
      } else if (sym === "(") depth++;
      else if (sym === ")") depth--;
      else if (sym === "," && depth === 0) ctx = "keyOrOp";
      continue;
    }
    let word = "";
    let escaped = false;
    while (i < text.length) {
      const c = text[i];
      if (!escaped) {
        if (isSpace(c)) break;
        if (dialect === "field" && ctx === "value" ? VALUE_END.has(c) : SYNTAX.has(c)) break;
        if (dialect === "field" && c === "\\") {
          escaped = true;
          i++;
          continue;
        }
      }
      escaped = false;
      word += c;
      i++;
    }
    tokens.push({ kind: KEYWORDS.has(word) ? (word as Kind) : "ident", text: word, pos: start });
    if (ctx === "key" || ctx === "keyOrOp") ctx = "op";
    else if (ctx === "op") ctx = "value";
  }
}

const describe = (t: Token) => (t.kind === "eos" ? "end of input" : `${quote(t.text, undefined, "'")} at position ${t.pos + 1}`);

/**
 * Parses selector text into requirements (an empty or blank text has none). `fail` builds the error to throw; its
 * message says what was found where and what was expected.
 */
export function parseSelector(text: string, dialect: SelectorDialect, fail: (message: string) => Error): ParsedRequirement[] {
  const tokens = lex(text, dialect);
  let at = 0;
  const error = (t: Token, expected: string) => fail(`cannot parse ${quote(text)}: found ${describe(t)}, expected ${expected}`);
  // Where a value or key may stand, the keywords are plain words ("in" is a fine label key or value).
  const peek = (asWord: boolean): Token => {
    const t = tokens[at];
    return asWord && KEYWORDS.has(t.kind) ? { ...t, kind: "ident" } : t;
  };
  const next = (asWord: boolean): Token => {
    const t = peek(asWord);
    if (t.kind !== "eos") at++;
    return t;
  };

  /** "(" [value {"," value}] ")" — empty entries are empty strings, as in Kubernetes. */
  const valueList = (): string[] => {
    const open = next(true);
    if (open.kind !== "(") throw error(open, "'('");
    const values: string[] = [];
    let expectValue = true;
    for (;;) {
      const t = next(true);
      if (t.kind === "ident" && expectValue) {
        values.push(t.text);
        expectValue = false;
      } else if (t.kind === ",") {
        if (expectValue) values.push("");
        expectValue = true;
      } else if (t.kind === ")") {
        if (expectValue) values.push("");
        return values;
      } else {
        throw error(t, expectValue ? "a value, ',' or ')'" : "',' or ')'");
      }
    }
  };

  const requirement = (): ParsedRequirement => {
    let t = next(true);
    let negated = false;
    if (t.kind === "!") {
      negated = true;
      t = next(true);
    }
    if (t.kind === "(") throw fail(`cannot parse ${quote(text)}: keysets like (a,b) at position ${t.pos + 1} are not supported`);
    if (t.kind !== "ident") throw error(t, "a key");
    const key = t.text;
    const position = t.pos + 1;
    const after = peek(false);
    if (negated || after.kind === "eos" || after.kind === ",") {
      return { key, op: negated ? "!" : "exists", values: [], position };
    }
    const opToken = next(false);
    let op: SelectorOperator;
    switch (opToken.kind) {
      case "in":
      case "notin":
      case "contains":
      case "notcontains":
      case "=":
      case "==":
      case "!=":
      case ">":
      case ">=":
      case "<":
      case "<=":
        op = opToken.kind;
        break;
      default:
        throw error(opToken, "an operator (one of in, notin, =, ==, !=, contains, notcontains, >, >=, <, <=)");
    }
    let values: string[];
    if (op === "in" || op === "notin") {
      values = valueList();
    } else if (peek(true).kind === "(") {
      values = valueList();
    } else {
      const v = peek(true);
      if (v.kind === "eos" || v.kind === ",") values = [""];
      else if (v.kind === "ident") values = [next(true).text];
      else throw error(v, "a value");
    }
    values = [...new Set(values)];
    if (op !== "in" && op !== "notin" && values.length !== 1) {
      throw fail(`cannot parse ${quote(text)}: operator "${op}" of key ${quote(key)} takes exactly one value, got ${values.length}`);
    }
    return { key, op, values, position };
  };

  const reqs: ParsedRequirement[] = [];
  const first = peek(true);
  if (first.kind === "eos") return reqs;
  if (first.kind !== "ident" && first.kind !== "!" && first.kind !== "(") throw error(first, "a key, '!' or end of input");
  for (;;) {
    reqs.push(requirement());
    const t = next(true);
    if (t.kind === "eos") return reqs;
    if (t.kind !== ",") throw error(t, "',' or end of input");
    const n = peek(true);
    if (n.kind !== "ident" && n.kind !== "!" && n.kind !== "(") throw error(n, "a key or '!' after ','");
  }
}
