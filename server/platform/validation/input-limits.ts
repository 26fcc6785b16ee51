// What every request message must be, whatever its method: strings Postgres and every client can store and show (no
// NUL, no lone surrogate), and no field larger than the limits. Checked from the message's descriptor, so it holds for
// every RPC without a line in any handler. Binary decoding already refuses invalid UTF-8 (proto3 strings are
// validated); JSON decoding lets "\u0000" and "\ud800" through, hence this walk.
import { type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import { isWrapperDesc } from "@bufbuild/protobuf/wkt";
import { childPath } from "../../../lib/codec.js";
import type { FieldViolation } from "../../../lib/errors.js";
import { QUOTE_MAX } from "../../../lib/quote.js";

/** Size limits of one request message. */
export interface InputLimits {
  /** Characters of one string field (bytes of one bytes field). */
  maxStringLength: number;
  /** Items of one repeated field, entries of one map. */
  maxItems: number;
  /** Levels of nested messages (and JSON objects and arrays inside google.protobuf.Struct/Value). */
  maxDepth: number;
}

export const DEFAULT_INPUT_LIMITS: InputLimits = { maxStringLength: 1024 * 1024, maxItems: 10_000, maxDepth: 32 };

/** Violations stop the walk at this many: enough to name the problem, bounded for a hostile message. */
const MAX_VIOLATIONS = 10;

// The characters a well-formed, NUL-free string never contains; most strings match neither and cost one scan.
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is what this looks for
const SUSPECT = /[\u0000\ud800-\udfff]/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

interface Walk {
  limits: InputLimits;
  out: FieldViolation[];
}

// Where a value is, kept as links and spelled out only for a violation: the walk runs on every request, and building
// every field's path string (most requests have none to report) was most of its cost.
type Path = { up: Path; key: string | number } | undefined;
const at = (up: Path, key: string | number): Path => ({ up, key });
const spell = (p: Path): string => (p ? childPath(spell(p.up), p.key) : "");

/** The violations of `message` (of type `desc`) against `limits`; empty when it is fine. Field paths are JSON names. */
export function inputViolations(desc: DescMessage, message: object, limits: InputLimits): FieldViolation[] {
  const w: Walk = { limits, out: [] };
  walkMessage(w, desc, message as Record<string, unknown>, undefined, 1);
  return w.out;
}

/** A map key as a path segment: a long one is cut (the path is quoted back to the caller). */
const short = (k: string) => (k.length > QUOTE_MAX ? `${k.slice(0, QUOTE_MAX)}…` : k);

function add(w: Walk, field: string, message: string): void {
  if (w.out.length < MAX_VIOLATIONS) w.out.push({ field, message });
}

function checkString(w: Walk, s: string, path: Path): void {
  if (s.length > w.limits.maxStringLength) add(w, spell(path), `must be at most ${w.limits.maxStringLength} characters, got ${s.length}`);
  else if (SUSPECT.test(s)) {
    if (s.includes("\u0000")) add(w, spell(path), "must not contain NUL (\\u0000)");
    else if (LONE_SURROGATE.test(s)) add(w, spell(path), "must be valid UTF-8 (it contains a lone surrogate)");
  }
}

function checkCount(w: Walk, n: number, path: Path): boolean {
  if (n <= w.limits.maxItems) return true;
  add(w, spell(path), `must have at most ${w.limits.maxItems} items, got ${n}`);
  return false;
}

function tooDeep(w: Walk, depth: number, path: Path, name?: string): boolean {
  if (depth <= w.limits.maxDepth) return false;
  add(w, spell(path) || (name ?? ""), `must nest at most ${w.limits.maxDepth} levels`);
  return true;
}

function walkMessage(w: Walk, desc: DescMessage, msg: Record<string, unknown>, path: Path, depth: number): void {
  if (tooDeep(w, depth, path, desc.name)) return;
  for (const member of desc.members) {
    if (w.out.length >= MAX_VIOLATIONS) return;
    if (member.kind === "oneof") {
      const sel = msg[member.localName] as { case?: string; value?: unknown } | undefined;
      if (!sel?.case) continue;
      const field = member.fields.find((f) => f.localName === sel.case);
      if (field) walkField(w, field, sel.value, path, depth);
    } else walkField(w, member, msg[member.localName], path, depth);
  }
}

function walkField(w: Walk, field: DescField, value: unknown, parent: Path, depth: number): void {
  if (value === undefined || value === null) return;
  const path = at(parent, field.jsonName);
  switch (field.fieldKind) {
    case "scalar":
      walkScalar(w, field.scalar, value, path);
      return;
    case "enum":
      return;
    case "message":
      walkMessageValue(w, field.message, value, path, depth);
      return;
    case "list": {
      const items = value as unknown[];
      if (!checkCount(w, items.length, path)) return;
      if (field.listKind === "enum") return;
      for (let i = 0; i < items.length && w.out.length < MAX_VIOLATIONS; i++) {
        if (field.listKind === "scalar") walkScalar(w, field.scalar, items[i], at(path, i));
        else if (field.listKind === "message") walkMessageValue(w, field.message, items[i], at(path, i), depth);
      }
      return;
    }
    case "map": {
      const entries = Object.entries(value as Record<string, unknown>);
      if (!checkCount(w, entries.length, path)) return;
      for (const [k, v] of entries) {
        if (w.out.length >= MAX_VIOLATIONS) return;
        const here = at(path, short(k));
        if (field.mapKey === ScalarType.STRING) checkString(w, k, here);
        if (field.mapKind === "scalar") walkScalar(w, field.scalar, v, here);
        else if (field.mapKind === "message") walkMessageValue(w, field.message, v, here, depth);
      }
      return;
    }
  }
}

function walkScalar(w: Walk, type: ScalarType, value: unknown, path: Path): void {
  if (type === ScalarType.STRING && typeof value === "string") checkString(w, value, path);
  else if (type === ScalarType.BYTES && value instanceof Uint8Array && value.length > w.limits.maxStringLength) {
    add(w, spell(path), `must be at most ${w.limits.maxStringLength} bytes, got ${value.length}`);
  }
}

/**
 * A message-typed value as protobuf-es holds it: a message; or, for the well-known types with a custom shape, a
 * plain JSON object (google.protobuf.Struct) or the unwrapped scalar (google.protobuf.StringValue and kin).
 */
function walkMessageValue(w: Walk, desc: DescMessage, value: unknown, path: Path, depth: number): void {
  if (typeof value !== "object" || value === null || value instanceof Uint8Array) {
    if (isWrapperDesc(desc)) walkScalar(w, desc.fields[0].scalar, value, path);
    return;
  }
  if ("$typeName" in value) walkMessage(w, desc, value as Record<string, unknown>, path, depth + 1);
  else walkJson(w, value, path, depth + 1);
}

/** Free-form JSON (a google.protobuf.Struct held as a plain object). */
function walkJson(w: Walk, value: unknown, path: Path, depth: number): void {
  if (typeof value === "string") {
    checkString(w, value, path);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  if (tooDeep(w, depth, path)) return;
  if (Array.isArray(value)) {
    if (!checkCount(w, value.length, path)) return;
    for (let i = 0; i < value.length && w.out.length < MAX_VIOLATIONS; i++) walkJson(w, value[i], at(path, i), depth + 1);
    return;
  }
  const entries = Object.entries(value);
  if (!checkCount(w, entries.length, path)) return;
  for (const [k, v] of entries) {
    if (w.out.length >= MAX_VIOLATIONS) return;
    const here = at(path, short(k));
    checkString(w, k, here);
    walkJson(w, v, here, depth + 1);
  }
}
