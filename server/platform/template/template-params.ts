// Fleet template parameters: a deliberately small subset of Go text/template (missingkey=zero) used to personalise
// a fleet's device template per device. Templates are parsed once into a tiny AST; access rules (only
// .metadata.name and .metadata.labels.<key>) and function names/arity are checked statically at parse time so a
// fleet is rejected when it is created, not when it is rolled out. Execution is a plain tree walk, no regexes.

export interface TemplateDevice {
  name: string;
  labels: Record<string, string>;
}

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TemplateError";
  }
}

export interface CompiledTemplate {
  readonly hasActions: boolean;
  execute(device: TemplateDevice): string;
}

export const DEVICE_TEMPLATE_FIELDS: readonly string[] = Object.freeze([
  "os.image",
  "config[*].gitRef.targetRevision",
  "config[*].gitRef.path",
  "config[*].httpRef.suffix",
  "config[*].httpRef.filePath",
  "config[*].inline[*].content",
  "config[*].inline[*].path",
  "config[*].secretRef.name",
  "config[*].secretRef.namespace",
  "config[*].secretRef.mountPath",
  "applications[*].image",
  "applications[*].inline[*].content",
  "applications[*].inline[*].path",
  "applications[*].envVars.*",
  "applications[*].volumes[*].image.reference",
]);

const MAX_BLOCK_DEPTH = 10;
const MAX_PAREN_DEPTH = 10;
const CACHE_LIMIT = 10_000;

// ---------------------------------------------------------------------------------------------------------------
// Values. The data model is fixed (device → metadata → labels), so the non-scalar values are three tags and the
// device itself travels in the execution context: no per-execution allocation of wrapper objects.

class Ref {
  constructor(readonly kind: "root" | "meta" | "labels") {}
}
const ROOT = new Ref("root");
const META = new Ref("meta");
const LABELS = new Ref("labels");
type Val = string | number | boolean | Ref;

/** Static types, known at parse time; "any" defers checks to execution (e.g. results of and/or). */
type T = "root" | "meta" | "labels" | "string" | "int" | "bool" | "any";

interface Ctx {
  dev: TemplateDevice;
}

/** Go-ish type names for messages; static types and runtime values are kept apart (a label may be "root"). */
function tName(t: T): string {
  return t === "root" || t === "meta" ? "object" : t === "labels" ? "map" : t;
}
function typeName(v: Val): string {
  if (v instanceof Ref) return v.kind === "labels" ? "map" : "object";
  return typeof v === "string" ? "string" : typeof v === "number" ? "int" : "bool";
}

function label(ctx: Ctx, key: string): string {
  const labels = ctx.dev.labels;
  // hasOwn: keys like "constructor" must not reach Object.prototype; missing key → "" (missingkey=zero).
  return labels && Object.hasOwn(labels, key) ? String(labels[key]) : "";
}

function truthy(v: Val, ctx: Ctx): boolean {
  if (v instanceof Ref) return v !== LABELS || Object.keys(ctx.dev.labels ?? {}).length > 0;
  return typeof v === "string" ? v !== "" : typeof v === "number" ? v !== 0 : v;
}

function printValue(v: Val): string {
  if (v instanceof Ref) throw new TemplateError(`cannot print a value of type ${typeName(v)}`);
  return String(v);
}

function fieldError(root: boolean, path: readonly string[]): TemplateError {
  return new TemplateError(
    `field "${root ? "$" : ""}.${path.join(".")}" is not allowed; only .metadata.name and .metadata.labels.<key> are accessible`,
  );
}

/** Static field check; mirrors getField so that what parses is what executes. */
function fieldType(base: T, root: boolean, path: readonly string[]): T {
  let t = base;
  for (const name of path) {
    if (t === "root" && name === "metadata") t = "meta";
    else if (t === "meta" && (name === "name" || name === "labels")) t = name === "name" ? "string" : "labels";
    else if (t === "labels") t = "string";
    else if (t === "any") return "any";
    else throw fieldError(root, path);
  }
  return t;
}

function getField(v: Val, root: boolean, path: readonly string[], ctx: Ctx): Val {
  for (const name of path) {
    if (v === ROOT && name === "metadata") v = META;
    else if (v === META && name === "name") v = ctx.dev.name;
    else if (v === META && name === "labels") v = LABELS;
    else if (v === LABELS) v = label(ctx, name);
    else throw fieldError(root, path);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Functions. Arity and (where known) argument types are checked at parse time; values are re-checked at run time
// because and/or/index can yield "any".

interface Fn {
  min: number;
  max: number;
  result(args: T[]): T;
  check?(args: T[]): string | undefined;
  call(args: Val[], ctx: Ctx): Val;
}

function wantString(fn: string, v: Val): string {
  if (typeof v !== "string") throw new TemplateError(`${fn}: expected string argument, got ${typeName(v)}`);
  return v;
}
const allStrings = (fn: string) => (args: T[]) => {
  const bad = args.find((t) => t !== "string" && t !== "any");
  return bad ? `${fn}: expected string argument, got ${tName(bad)}` : undefined;
};

function basicKind(fn: string, v: Val): string {
  if (v instanceof Ref) throw new TemplateError(`${fn}: invalid type for comparison: ${typeName(v)}`);
  return typeof v;
}
function eqPair(fn: string, a: Val, b: Val): boolean {
  if (basicKind(fn, a) !== basicKind(fn, b)) {
    throw new TemplateError(`${fn}: incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
  }
  return a === b;
}
function ordered(fn: string, a: Val, b: Val): [string | number, string | number] {
  if (typeof a === "boolean" || typeof b === "boolean" || a instanceof Ref || b instanceof Ref) {
    throw new TemplateError(`${fn}: invalid type for comparison: ${typeName(a)} and ${typeName(b)}`);
  }
  if (typeof a !== typeof b) {
    throw new TemplateError(`${fn}: incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
  }
  return [a, b];
}
const cmp = (fn: string, test: (a: string | number, b: string | number) => boolean): Fn => ({
  min: 2,
  max: 2,
  result: () => "bool",
  call: ([a, b]) => test(...ordered(fn, a, b)),
});
const sameOrAny = (args: T[]): T => (args.every((t) => t === args[0]) ? args[0] : "any");

const FUNCS: Record<string, Fn> = {
  upper: { min: 1, max: 1, result: () => "string", check: allStrings("upper"), call: ([s]) => wantString("upper", s).toUpperCase() },
  lower: { min: 1, max: 1, result: () => "string", check: allStrings("lower"), call: ([s]) => wantString("lower", s).toLowerCase() },
  replace: {
    min: 3,
    max: 3,
    result: () => "string",
    check: allStrings("replace"),
    call: ([o, n, s]) => {
      const [old, rep, input] = [wantString("replace", o), wantString("replace", n), wantString("replace", s)];
      // Go's ReplaceAll with an empty old string inserts between code points, not UTF-16 units.
      return old === "" ? rep + Array.from(input).join(rep) + (input ? rep : "") : input.split(old).join(rep);
    },
  },
  getOrDefault: {
    min: 3,
    max: 3,
    result: () => "string",
    check: ([m, ...rest]) =>
      m !== "labels" && m !== "any" ? `getOrDefault: expected map argument, got ${tName(m)}` : allStrings("getOrDefault")(rest),
    call: ([m, k, d], ctx) => {
      if (m !== LABELS) throw new TemplateError(`getOrDefault: expected map argument, got ${typeName(m)}`);
      const v = label(ctx, wantString("getOrDefault", k));
      return v === "" ? wantString("getOrDefault", d) : v;
    },
  },
  eq: {
    min: 2,
    max: Infinity,
    result: () => "bool",
    call: ([a, ...rest]) => rest.some((b) => eqPair("eq", a, b)),
  },
  ne: { min: 2, max: 2, result: () => "bool", call: ([a, b]) => !eqPair("ne", a, b) },
  lt: cmp("lt", (a, b) => a < b),
  le: cmp("le", (a, b) => a <= b),
  gt: cmp("gt", (a, b) => a > b),
  ge: cmp("ge", (a, b) => a >= b),
  // and/or are evaluated lazily by the interpreter (Go short-circuits); call is only the fallback shape.
  and: { min: 1, max: Infinity, result: sameOrAny, call: () => false },
  or: { min: 1, max: Infinity, result: sameOrAny, call: () => false },
  not: { min: 1, max: 1, result: () => "bool", call: ([v], ctx) => !truthy(v, ctx) },
  index: {
    min: 1,
    max: Infinity,
    result: ([item, ...keys]) => (keys.length === 0 ? item : item === "labels" ? "string" : item === "string" ? "int" : "any"),
    check: ([item, ...keys]) =>
      keys.length > 0 && item !== "labels" && item !== "string" && item !== "any"
        ? `index: cannot index a value of type ${tName(item)}`
        : undefined,
    call: ([item, ...keys], ctx) => {
      for (const k of keys) {
        if (item === LABELS) item = label(ctx, wantString("index", k));
        else if (typeof item === "string" && typeof k === "number") {
          const bytes = Buffer.from(item, "utf8"); // Go indexes strings by byte
          if (k < 0 || k >= bytes.length) throw new TemplateError(`index: index ${k} out of range`);
          item = bytes[k];
        } else throw new TemplateError(`index: cannot index a value of type ${typeName(item)} with ${typeName(k)}`);
      }
      return item;
    },
  },
  len: {
    min: 1,
    max: 1,
    result: () => "int",
    check: ([t]) => (t === "string" || t === "labels" || t === "any" ? undefined : `len: invalid argument of type ${tName(t)}`),
    call: ([v], ctx) => {
      if (typeof v === "string") return Buffer.byteLength(v, "utf8");
      if (v === LABELS) return Object.keys(ctx.dev.labels ?? {}).length;
      throw new TemplateError(`len: invalid argument of type ${typeName(v)}`);
    },
  },
  print: {
    min: 0,
    max: Infinity,
    result: () => "string",
    // fmt.Sprint: a space goes between operands only when neither side is a string.
    call: (args) =>
      args.reduce<string>(
        (out, v, i) => out + (i > 0 && typeof v !== "string" && typeof args[i - 1] !== "string" ? " " : "") + printValue(v),
        "",
      ),
  },
};

// ---------------------------------------------------------------------------------------------------------------
// AST

type Arg = { k: "lit"; v: Val; t: T } | { k: "field"; root: boolean; path: string[]; t: T } | { k: "pipe"; p: Pipe; t: T };
interface Cmd {
  name?: string; // absent: a plain value (args has exactly one element)
  fn?: Fn;
  args: Arg[];
  t: T;
}
interface Pipe {
  cmds: Cmd[];
  t: T;
}
type Node = { k: "text"; s: string } | { k: "out"; p: Pipe } | { k: "if" | "with"; p: Pipe; body: Node[]; alt: Node[] | null };

// ---------------------------------------------------------------------------------------------------------------
// Lexer: splits text and actions, handles comments and trim markers, tokenizes action contents.

interface Tok {
  t: "str" | "int" | "ident" | "field" | "(" | ")" | "|";
  v: string;
  n: number;
  path: string[];
  root: boolean;
  pos: number;
  end: number;
}

const isSpace = (c: string | undefined) => c === " " || c === "\t" || c === "\r" || c === "\n";
const isIdentChar = (c: string | undefined) => c !== undefined && /[\p{L}\p{N}_]/u.test(c);
const trimStart = (s: string) => s.replace(/^[ \t\r\n]+/, "");
const trimEnd = (s: string) => s.replace(/[ \t\r\n]+$/, "");
const DISALLOWED = new Set(["range", "define", "template", "block", "break", "continue"]);
const ESCAPES: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"' };

type Piece = { text: string } | { toks: Tok[] };

function lex(src: string): Piece[] {
  const out: Piece[] = [];
  let i = 0;
  let trimNext = false;
  for (;;) {
    const open = src.indexOf("{{", i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = trimStart(text);
    if (open < 0) {
      out.push({ text });
      return out;
    }
    let p = open + 2;
    if (src[p] === "-" && isSpace(src[p + 1])) {
      text = trimEnd(text);
      p += 2;
    }
    out.push({ text });
    // Go only recognises a comment directly after the delimiter (and trim marker).
    if (src.startsWith("/*", p)) {
      const close = src.indexOf("*/", p + 2);
      if (close < 0) throw new TemplateError("unclosed comment");
      const end = closeDelim(src, close + 2);
      if (!end) throw new TemplateError("comment ends before closing delimiter");
      [i, trimNext] = end;
      continue;
    }
    const toks: Tok[] = [];
    for (;;) {
      const end = closeDelim(src, p);
      if (end) {
        [i, trimNext] = end;
        break;
      }
      if (p >= src.length) throw new TemplateError("unterminated action: missing }}");
      if (isSpace(src[p])) p++;
      else p = lexToken(src, p, toks);
    }
    out.push({ toks });
  }
}

/** At a closing delimiter ("}}" or " -}}")? Returns the position after it and whether to trim the following text. */
function closeDelim(src: string, p: number): [number, boolean] | undefined {
  if (src.startsWith("}}", p)) return [p + 2, false];
  if (isSpace(src[p]) && src.startsWith("-}}", p + 1)) return [p + 4, true];
  return undefined;
}

function lexToken(src: string, p: number, toks: Tok[]): number {
  const start = p;
  const push = (t: Tok["t"], end: number, extra: Partial<Tok> = {}) => {
    toks.push({ t, v: "", n: 0, path: [], root: false, pos: start, end, ...extra });
    return end;
  };
  const ident = (q: number) => {
    while (isIdentChar(src[q])) q++;
    return q;
  };
  /** .a.b.c starting at q (src[q] === "."); a bare "." yields an empty path. */
  const fields = (q: number): [string[], number] => {
    const path: string[] = [];
    while (src[q] === "." && isIdentChar(src[q + 1])) {
      const e = ident(q + 1);
      path.push(src.slice(q + 1, e));
      q = e;
    }
    if (path.length === 0 && src[q] === ".") q++;
    return [path, q];
  };
  const c = src[p];
  if (c === "(" || c === ")" || c === "|") return push(c, p + 1);
  if (c === '"') {
    let v = "";
    for (p++; ; p++) {
      const ch = src[p];
      if (ch === undefined || ch === "\n") throw new TemplateError("unterminated quoted string");
      if (ch === '"') return push("str", p + 1, { v });
      if (ch !== "\\") {
        v += ch;
        continue;
      }
      const e = src[++p];
      const hex = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
      const digits = src.slice(p + 1, p + 1 + hex);
      if (e !== undefined && Object.hasOwn(ESCAPES, e)) v += ESCAPES[e];
      else if (hex && digits.length === hex && /^[0-9a-fA-F]+$/.test(digits)) {
        const cp = parseInt(digits, 16);
        // \x is a byte in Go; only ASCII maps 1:1 onto a JS string.
        if ((hex === 2 && cp > 0x7f) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
          throw new TemplateError(`unsupported escape \\${e}${digits} in string`);
        }
        v += String.fromCodePoint(cp);
        p += hex;
      } else throw new TemplateError(`invalid escape \\${e ?? ""} in string`);
    }
  }
  if (c === "`") {
    const close = src.indexOf("`", p + 1);
    if (close < 0) throw new TemplateError("unterminated raw string");
    return push("str", close + 1, { v: src.slice(p + 1, close).replaceAll("\r", "") });
  }
  if (/[0-9]/.test(c) || ((c === "-" || c === "+") && /[0-9]/.test(src[p + 1] ?? ""))) {
    let q = p + 1;
    while (q < src.length && /[0-9A-Za-z_.]/.test(src[q])) q++;
    const lit = src.slice(p, q);
    if (!/^[+-]?(?:0|[1-9][0-9]*|0[xX][0-9a-fA-F]+)$/.test(lit)) {
      throw new TemplateError(`bad number syntax: "${lit}" (only decimal or hex integers are supported)`);
    }
    const n = lit.startsWith("-") ? -Number(lit.slice(1)) : Number(lit.replace(/^\+/, ""));
    if (!Number.isSafeInteger(n)) throw new TemplateError(`number out of range: ${lit}`);
    return push("int", q, { n });
  }
  if (c === ".") {
    // "(expr).x" or "f.x": Go would chain a field onto a computed value; nothing here has fields to offer.
    const prev = toks[toks.length - 1];
    const [path, q] = fields(p);
    if (prev && prev.end === p && prev.t !== "(" && prev.t !== "|") {
      throw new TemplateError(`field access "${src.slice(p, q)}" on a computed value is not allowed`);
    }
    return push("field", q, { path });
  }
  if (c === "$") {
    if (isIdentChar(src[p + 1])) {
      const e = ident(p + 1);
      const name = src.slice(p, e);
      let q = e;
      while (isSpace(src[q])) q++;
      if (src.startsWith(":=", q) || src[q] === "=") throw new TemplateError(`variable declaration ${name} := is not allowed`);
      throw new TemplateError(`variable ${name} is not allowed (only $ is available)`);
    }
    const [path, q] = fields(p + 1);
    return push("field", q, { path, root: true });
  }
  if (c === ":" || c === "=" || c === ",") throw new TemplateError("variable declarations are not allowed");
  if (isIdentChar(c)) {
    const e = ident(p);
    return push("ident", e, { v: src.slice(p, e) });
  }
  throw new TemplateError(`unexpected character ${JSON.stringify(c)} in action`);
}

// ---------------------------------------------------------------------------------------------------------------
// Parser

interface Frame {
  node: Extract<Node, { k: "if" | "with" }>;
  inElse: boolean;
  chained: boolean; // created by "else if"/"else with": closed by the same {{end}}, no extra depth
  outer: T; // type of dot outside the block (and in its else branch)
}

class Parser {
  private toks: Tok[] = [];
  private i = 0;
  private dot: T = "root";

  parse(src: string): Node[] {
    const root: Node[] = [];
    const stack: Frame[] = [];
    const target = () => {
      const f = stack[stack.length - 1];
      return !f ? root : f.inElse ? (f.node.alt ??= []) : f.node.body;
    };
    const dotOf = (f: Frame | undefined): T => (!f ? "root" : f.inElse || f.node.k === "if" ? f.outer : f.node.p.t);
    const open = (kind: "if" | "with", chained: boolean) => {
      const outer = dotOf(stack[stack.length - 1]);
      if (!chained && stack.filter((f) => !f.chained).length >= MAX_BLOCK_DEPTH) {
        throw new TemplateError(`nesting depth of if/with blocks exceeds ${MAX_BLOCK_DEPTH}`);
      }
      if (this.atEnd()) throw new TemplateError(`missing value for ${kind}`);
      this.dot = chained ? stack[stack.length - 1].outer : outer;
      const node = { k: kind, p: this.pipe(0), body: [], alt: null } as Frame["node"];
      this.expectEnd(kind);
      if (chained) stack[stack.length - 1].node.alt = [node];
      else target().push(node);
      stack.push({ node, inElse: false, chained, outer: chained ? stack[stack.length - 1].outer : outer });
    };
    for (const piece of lex(src)) {
      if ("text" in piece) {
        if (piece.text) target().push({ k: "text", s: piece.text });
        continue;
      }
      this.toks = piece.toks;
      this.i = 0;
      this.dot = dotOf(stack[stack.length - 1]);
      const first = this.toks[0];
      const word = first?.t === "ident" ? first.v : "";
      if (word === "if" || word === "with") {
        this.i++;
        open(word, false);
      } else if (word === "else") {
        this.i++;
        const f = stack[stack.length - 1];
        if (!f) throw new TemplateError("unexpected {{else}} outside if/with");
        if (f.inElse) throw new TemplateError("unexpected second {{else}} in the same block");
        const next = this.peek();
        if (next?.t === "ident" && (next.v === "if" || next.v === "with")) {
          this.i++;
          open(next.v, true);
        } else {
          this.expectEnd("else");
          f.inElse = true;
        }
      } else if (word === "end") {
        this.i++;
        this.expectEnd("end");
        if (stack.length === 0) throw new TemplateError("unexpected {{end}} without matching if/with");
        while (stack.pop()!.chained);
      } else {
        if (this.atEnd()) throw new TemplateError("missing value for command");
        const p = this.pipe(0);
        this.expectEnd("command");
        if (p.t === "root" || p.t === "meta" || p.t === "labels") {
          throw new TemplateError(`cannot print a value of type ${tName(p.t)}`);
        }
        target().push({ k: "out", p });
      }
    }
    if (stack.length > 0) throw new TemplateError(`unexpected EOF: missing {{end}} for {{${stack[stack.length - 1].node.k}}}`);
    return root;
  }

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }
  private atEnd(): boolean {
    return this.i >= this.toks.length;
  }
  private expectEnd(what: string) {
    const t = this.peek();
    if (t) throw new TemplateError(`unexpected ${describe(t)} in ${what}`);
  }

  private pipe(depth: number): Pipe {
    const cmds: Cmd[] = [];
    for (;;) {
      const piped = cmds.length > 0 ? cmds[cmds.length - 1].t : undefined;
      cmds.push(this.command(depth, piped));
      if (this.peek()?.t !== "|") break;
      this.i++;
    }
    return { cmds, t: cmds[cmds.length - 1].t };
  }

  private command(depth: number, piped: T | undefined): Cmd {
    const head = this.peek();
    if (!head || head.t === "|" || head.t === ")") throw new TemplateError("missing command in pipeline");
    if (head.t === "ident" && !isLiteralWord(head.v)) {
      this.i++;
      lookup(head.v); // report "range is not allowed" / unknown names before errors in their arguments
      const args: Arg[] = [];
      for (let t = this.peek(); t && t.t !== "|" && t.t !== ")"; t = this.peek()) args.push(this.operand(depth));
      return this.call(head.v, args, piped);
    }
    if (piped !== undefined) throw new TemplateError(`non-function ${describe(head)} in pipeline`);
    const arg = this.operand(depth);
    const extra = this.peek();
    if (extra && extra.t !== "|" && extra.t !== ")") {
      throw new TemplateError(`can't give argument to non-function ${describe(head)}`);
    }
    return { args: [arg], t: arg.t };
  }

  private call(name: string, args: Arg[], piped: T | undefined): Cmd {
    const fn = lookup(name);
    const types = args.map((a) => a.t);
    if (piped !== undefined) types.push(piped); // the piped value is the last argument
    if (types.length < fn.min || types.length > fn.max) {
      const want = fn.max === Infinity ? `at least ${fn.min}` : fn.min === fn.max ? `${fn.min}` : `${fn.min}-${fn.max}`;
      throw new TemplateError(`wrong number of arguments for ${name}: want ${want}, got ${types.length}`);
    }
    const problem = fn.check?.(types);
    if (problem) throw new TemplateError(problem);
    return { name, fn, args, t: fn.result(types) };
  }

  private operand(depth: number): Arg {
    const tok = this.toks[this.i++];
    let arg: Arg;
    switch (tok.t) {
      case "str":
        arg = { k: "lit", v: tok.v, t: "string" };
        break;
      case "int":
        arg = { k: "lit", v: tok.n, t: "int" };
        break;
      case "field":
        arg = { k: "field", root: tok.root, path: tok.path, t: fieldType(tok.root ? "root" : this.dot, tok.root, tok.path) };
        break;
      case "ident":
        if (tok.v === "true" || tok.v === "false") arg = { k: "lit", v: tok.v === "true", t: "bool" };
        else {
          // A function name used as an argument is a call without arguments, as in Go.
          const cmd = this.call(tok.v, [], undefined);
          arg = { k: "pipe", p: { cmds: [cmd], t: cmd.t }, t: cmd.t };
        }
        break;
      case "(": {
        if (depth + 1 > MAX_PAREN_DEPTH) throw new TemplateError(`parenthesis nesting depth exceeds ${MAX_PAREN_DEPTH}`);
        if (this.peek()?.t === ")") throw new TemplateError("missing value for parenthesized pipeline");
        const p = this.pipe(depth + 1);
        if (this.peek()?.t !== ")") throw new TemplateError("unclosed left paren");
        this.i++;
        arg = { k: "pipe", p, t: p.t };
        break;
      }
      default:
        throw new TemplateError(`unexpected ${describe(tok)} in operand`);
    }
    return arg;
  }
}

const isLiteralWord = (w: string) => w === "true" || w === "false";

function lookup(w: string): Fn {
  if (DISALLOWED.has(w)) throw new TemplateError(`${w} is not allowed`);
  if (w === "if" || w === "with" || w === "else" || w === "end") throw new TemplateError(`unexpected "${w}" in command`);
  if (w === "nil") throw new TemplateError("nil is not allowed");
  if (!Object.hasOwn(FUNCS, w)) throw new TemplateError(`unknown function "${w}"`);
  return FUNCS[w];
}

function describe(t: Tok): string {
  switch (t.t) {
    case "str":
      return JSON.stringify(t.v);
    case "int":
      return String(t.n);
    case "ident":
      return `"${t.v}"`;
    case "field":
      return `${t.root ? "$" : ""}.${t.path.join(".")}`;
    default:
      return `"${t.t}"`;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Interpreter

function execNodes(nodes: Node[], dot: Val, ctx: Ctx): string {
  let out = "";
  for (const n of nodes) {
    switch (n.k) {
      case "text":
        out += n.s;
        break;
      case "out":
        out += printValue(evalPipe(n.p, dot, ctx));
        break;
      case "if": {
        const branch = truthy(evalPipe(n.p, dot, ctx), ctx) ? n.body : n.alt;
        if (branch) out += execNodes(branch, dot, ctx);
        break;
      }
      case "with": {
        const v = evalPipe(n.p, dot, ctx);
        if (truthy(v, ctx)) out += execNodes(n.body, v, ctx);
        else if (n.alt) out += execNodes(n.alt, dot, ctx);
        break;
      }
    }
  }
  return out;
}

function evalPipe(p: Pipe, dot: Val, ctx: Ctx): Val {
  let v: Val | undefined;
  for (const c of p.cmds) v = evalCmd(c, dot, ctx, v);
  return v!;
}

function evalCmd(c: Cmd, dot: Val, ctx: Ctx, piped: Val | undefined): Val {
  if (!c.fn) return evalArg(c.args[0], dot, ctx);
  if (c.name === "and" || c.name === "or") {
    // Short-circuit: return the first falsy (and) / truthy (or) argument, else the last one.
    const stopOn = c.name === "or";
    let v: Val = false;
    for (let i = 0; i < c.args.length; i++) {
      v = evalArg(c.args[i], dot, ctx);
      if (truthy(v, ctx) === stopOn) return v;
    }
    return piped !== undefined ? piped : v;
  }
  const args = c.args.map((a) => evalArg(a, dot, ctx));
  if (piped !== undefined) args.push(piped);
  return c.fn.call(args, ctx);
}

function evalArg(a: Arg, dot: Val, ctx: Ctx): Val {
  switch (a.k) {
    case "lit":
      return a.v;
    case "field":
      return getField(a.root ? ROOT : dot, a.root, a.path, ctx);
    case "pipe":
      return evalPipe(a.p, dot, ctx);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Public API

class Compiled implements CompiledTemplate {
  readonly hasActions: boolean;
  private readonly text: string | undefined;
  constructor(private readonly nodes: Node[]) {
    this.hasActions = nodes.some((n) => n.k !== "text");
    this.text = this.hasActions ? undefined : nodes.map((n) => (n.k === "text" ? n.s : "")).join("");
  }
  execute(device: TemplateDevice): string {
    return this.text ?? execNodes(this.nodes, ROOT, { dev: device });
  }
}

export function hasPlaceholders(text: string): boolean {
  return text.includes("{{");
}

export function parseTemplate(text: string): CompiledTemplate {
  if (!hasPlaceholders(text)) return new Compiled(text ? [{ k: "text", s: text }] : []);
  return new Compiled(new Parser().parse(text));
}

// Parse results (including failures) per source string, so rolling out to many devices parses each string once.
const cache = new Map<string, CompiledTemplate | TemplateError>();

function compileCached(text: string): CompiledTemplate {
  let hit = cache.get(text);
  if (hit === undefined) {
    try {
      hit = parseTemplate(text);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      hit = e;
    }
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!); // FIFO eviction keeps memory bounded
    cache.set(text, hit);
  }
  if (hit instanceof TemplateError) throw new TemplateError(hit.message);
  return hit;
}

type Seg = { k: "key"; name: string } | { k: "each" } | { k: "values" };
const patternCache = new Map<string, Seg[]>();

function parsePattern(pattern: string): Seg[] {
  let segs = patternCache.get(pattern);
  if (segs) return segs;
  segs = [];
  for (const part of pattern.split(".")) {
    const m = /^([^[\]]*)((?:\[\*\])*)$/.exec(part);
    if (!m) throw new Error(`bad field pattern "${pattern}"`); // programming error, not a user template error
    if (m[1] === "*") segs.push({ k: "values" });
    else if (m[1]) segs.push({ k: "key", name: m[1] });
    for (let n = m[2].length / 3; n > 0; n--) segs.push({ k: "each" });
  }
  if (patternCache.size > 1000) patternCache.clear();
  patternCache.set(pattern, segs);
  return segs;
}

type Json = Record<string, unknown> | unknown[];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Calls visit for every string leaf matched by the patterns, with its container, key and concrete path. */
function walk(obj: unknown, fields: readonly string[], visit: (parent: Json, key: string | number, value: string, path: string) => void) {
  const step = (value: unknown, segs: Seg[], i: number, path: string, parent: Json | undefined, key: string | number) => {
    if (i === segs.length) {
      if (typeof value === "string" && parent) visit(parent, key, value, path);
      return;
    }
    const seg = segs[i];
    if (seg.k === "each") {
      if (Array.isArray(value)) for (const [j, v] of value.entries()) step(v, segs, i + 1, `${path}[${j}]`, value, j);
    } else if (isObject(value)) {
      const keys = seg.k === "key" ? (Object.hasOwn(value, seg.name) ? [seg.name] : []) : Object.keys(value);
      for (const k of keys) step(value[k], segs, i + 1, path ? `${path}.${k}` : k, value, k);
    }
  };
  for (const f of fields) step(obj, parsePattern(f), 0, "", undefined, "");
}

/** Renders one string leaf; base64 inline content is substituted in its decoded form. */
function renderLeaf(parent: Json, key: string | number, value: string, device: TemplateDevice): string | undefined {
  const base64 = key === "content" && isObject(parent) && parent.contentEncoding === "base64";
  if (base64) {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    if (!hasPlaceholders(decoded)) return undefined;
    return Buffer.from(compileCached(decoded).execute(device), "utf8").toString("base64");
  }
  return hasPlaceholders(value) ? compileCached(value).execute(device) : undefined;
}

function withPath<R>(path: string, f: () => R): R {
  try {
    return f();
  } catch (e) {
    if (e instanceof TemplateError) throw new TemplateError(`${path}: ${e.message}`);
    throw e;
  }
}

/** `obj` with the template placeholders of `fields` filled in for `device`; strings stay strings, so the type is kept. */
export function renderFields<T>(obj: T, fields: readonly string[], device: TemplateDevice): T {
  const copy = typeof obj === "object" && obj !== null ? structuredClone(obj) : obj;
  walk(copy, fields, (parent, key, value, path) => {
    const out = withPath(path, () => renderLeaf(parent, key, value, device));
    if (out !== undefined) (parent as Record<string | number, unknown>)[key] = out;
  });
  return copy;
}

const DUMMY: TemplateDevice = { name: "dummy", labels: {} };

export function validateFields(obj: unknown, fields: readonly string[]): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  walk(obj, fields, (parent, key, value, path) => {
    try {
      renderLeaf(parent, key, value, DUMMY);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      problems.push({ path, message: e.message });
    }
  });
  return problems;
}
