// Decoding flightctl JSON/YAML into our messages with errors that name the field path.
// protobuf-es's fromJson stops at the first problem and names only the message type; users need the path
// ("spec.rolloutPolicy.disruptionAllowance: unknown field"), so we walk the document against the descriptor first.
import { fromJson, ScalarType, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { parseAllDocuments } from "yaml";
import { invalid, type FieldViolation } from "./errors.js";

/** Well-known types whose JSON form is not an object of fields; fromJson checks them itself. */
const opaqueJsonTypes = new Set([
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
  "google.protobuf.Timestamp",
  "google.protobuf.Duration",
  "google.protobuf.FieldMask",
  "google.protobuf.Any",
  "google.protobuf.Empty",
]);

/** Appends a key to a JSON path: a.b, a[0], a["odd key"]. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key) && !key.includes(".")) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

const typeOf = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

function checkScalar(type: ScalarType, v: JsonValue, path: string, out: FieldViolation[]): void {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      if (typeof v !== "string") out.push({ field: path, message: `must be a string, got ${typeOf(v)}` });
      return;
    case ScalarType.BOOL:
      if (typeof v !== "boolean") out.push({ field: path, message: `must be true or false, got ${typeOf(v)}` });
      return;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof v !== "number") out.push({ field: path, message: `must be a number, got ${typeOf(v)}` });
      return;
    default: {
      // Integers: flightctl sends plain JSON numbers; proto JSON also allows numeric strings, which we accept.
      const n = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
      if (typeof n !== "number" || !Number.isInteger(n)) {
        out.push({ field: path, message: `must be an integer, got ${typeof v === "number" ? v : typeOf(v)}` });
        return;
      }
      const unsigned = type === ScalarType.UINT32 || type === ScalarType.FIXED32 || type === ScalarType.UINT64;
      const is32 = [ScalarType.INT32, ScalarType.SINT32, ScalarType.SFIXED32, ScalarType.UINT32, ScalarType.FIXED32].includes(type);
      if (unsigned && n < 0) out.push({ field: path, message: `must not be negative, got ${n}` });
      else if (is32 && (n > 0xffffffff || n < -0x80000000 || (!unsigned && n > 0x7fffffff)))
        out.push({ field: path, message: `is out of range, got ${n}` });
    }
  }
}

function checkMessage(desc: DescMessage, v: JsonValue, path: string, out: FieldViolation[]): void {
  if (opaqueJsonTypes.has(desc.typeName) || (desc.typeName.startsWith("google.protobuf.") && desc.typeName.endsWith("Value"))) return;
  if (typeOf(v) !== "object") {
    out.push({ field: path, message: `must be an object, got ${typeOf(v)}` });
    return;
  }
  for (const [key, value] of Object.entries(v as JsonObject)) {
    const p = childPath(path, key);
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) {
      out.push({ field: p, message: "unknown field" });
      continue;
    }
    if (value === null) continue; // proto JSON: null means "not set"
    checkField(field, value, p, out);
  }
}

function checkField(field: DescField, v: JsonValue, path: string, out: FieldViolation[]): void {
  switch (field.fieldKind) {
    case "scalar":
      checkScalar(field.scalar, v, path, out);
      return;
    case "message":
      checkMessage(field.message, v, path, out);
      return;
    case "enum":
      return; // the contract uses validated strings, not enums
    case "list":
      if (!Array.isArray(v)) return void out.push({ field: path, message: `must be a list, got ${typeOf(v)}` });
      v.forEach((item, i) => {
        if (field.listKind === "scalar") checkScalar(field.scalar, item, childPath(path, i), out);
        else if (field.listKind === "message") checkMessage(field.message, item, childPath(path, i), out);
      });
      return;
    case "map":
      if (typeOf(v) !== "object") return void out.push({ field: path, message: `must be an object, got ${typeOf(v)}` });
      for (const [k, item] of Object.entries(v as JsonObject)) {
        if (field.mapKind === "scalar") checkScalar(field.scalar, item, childPath(path, k), out);
        else if (field.mapKind === "message") checkMessage(field.message, item, childPath(path, k), out);
      }
  }
}

/** Lists every structural problem of a JSON document against a message type (unknown keys, wrong types). */
export function structuralViolations(desc: DescMessage, json: JsonValue, path = ""): FieldViolation[] {
  const out: FieldViolation[] = [];
  checkMessage(desc, json, path, out);
  return out;
}

/**
 * Decodes flightctl JSON into a message. Unknown fields and wrong types are refused with an InvalidArgument
 * DomainError naming every offending path (prefixed with `path` when the document is nested in a request).
 */
export function decodeJson<Desc extends DescMessage>(desc: Desc, json: JsonValue, path = "") {
  const violations = structuralViolations(desc, json, path);
  if (violations.length > 0) throw invalid(violations);
  try {
    return fromJson(desc, json);
  } catch (e) {
    // Formats the walk does not check (timestamps, Struct contents) end up here.
    throw invalid({ field: path, message: e instanceof Error ? e.message : String(e) });
  }
}

/**
 * Parses YAML or JSON text into documents. YAML 1.1 semantics, so `mode: 0644` is octal (420) as in flightctl's
 * files; empty documents are skipped.
 */
export function parseDocuments(text: string): JsonObject[] {
  return parseIndexedDocuments(text).map((d) => d.value);
}

/** As parseDocuments, with each document's position in the text (empty ones count), for messages naming it. */
export function parseIndexedDocuments(text: string): { index: number; value: JsonObject }[] {
  const docs = parseAllDocuments(text, { version: "1.1" });
  const out: { index: number; value: JsonObject }[] = [];
  for (const [i, doc] of (Array.isArray(docs) ? docs : [docs]).entries()) {
    if (doc.errors.length > 0) {
      throw invalid({ field: `document[${i}]`, message: doc.errors.map((e) => e.message).join("; ") });
    }
    const value = doc.toJS({ maxAliasCount: 100 }) as JsonValue;
    if (value === null || value === undefined) continue;
    if (typeOf(value) !== "object") throw invalid({ field: `document[${i}]`, message: "must be a mapping" });
    out.push({ index: i, value: value as JsonObject });
  }
  return out;
}
