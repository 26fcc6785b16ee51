// Binary protobuf read straight into its proto3 JSON — what toJson(fromBinary(bytes)) gives — for the agent endpoint's
// hottest request (status reports, thousands a second at scale). protobuf-es decodes through its reflection API, which
// builds a reflection object and a field index for every message it reads (≈ 40 µs and 23 KB of garbage for a
// 285-byte report), and toJson walks the result once more; the handler only wants the JSON. This reads the wire once,
// from a table per message type built once.
//
// It takes the clean common case only and declines (undefined) anything else, so that the general path — whose
// answers and errors are the reference — decides: malformed input, a field kind not handled here (64-bit integers,
// bytes, oneof members, groups, well-known types other than Timestamp), and any value the input limits might refuse
// (a NUL, a string or list near a limit, deep nesting, UTF-8 it cannot decode strictly).
import {
  type DescEnum,
  type DescField,
  type DescMessage,
  fromBinary,
  type JsonObject,
  type JsonValue,
  ScalarType,
  toJson,
} from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import type { InputLimits } from "./validation/input-limits.js";

// google.protobuf.FeatureSet.FieldPresence
const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;

/** Thrown inside the reader to decline; caught at the top. */
const DECLINE = new Error("not on the fast path");

type Kind = "scalar" | "enum" | "message" | "timestamp" | "list" | "map";
/** A field as the reader needs it, resolved once per message type. */
interface Plan {
  kind: Kind;
  key: string;
  implicit: boolean;
  scalar: ScalarType;
  message?: DescMessage;
  enum?: DescEnum;
  /** list: items are messages (or Timestamps); map: values are messages. */
  itemKind?: "scalar" | "enum" | "message" | "timestamp";
}

const plans = new WeakMap<DescMessage, Map<number, Plan | null>>();

const HANDLED_SCALARS = new Set([
  ScalarType.STRING,
  ScalarType.BOOL,
  ScalarType.INT32,
  ScalarType.UINT32,
  ScalarType.SINT32,
  ScalarType.FIXED32,
  ScalarType.SFIXED32,
  ScalarType.DOUBLE,
  ScalarType.FLOAT,
]);

/** How a message-typed value is read: its own fields, a Timestamp (through protobuf-es), or declined. */
function messageKind(desc: DescMessage): "message" | "timestamp" | undefined {
  if (desc.typeName === TimestampSchema.typeName) return "timestamp";
  return desc.typeName.startsWith("google.protobuf.") ? undefined : "message";
}

/** Open enums (an unknown number is kept as the number), NullValue aside (its JSON is null). */
const handledEnum = (e: DescEnum) => e.open && e.typeName !== "google.protobuf.NullValue";

/** The plan of one field; null: a field this reader declines. */
function planOf(f: DescField): Plan | null {
  if (f.oneof || f.presence === LEGACY_REQUIRED) return null;
  const base = { key: f.jsonName, implicit: f.presence === IMPLICIT, scalar: ScalarType.INT32 };
  switch (f.fieldKind) {
    case "scalar":
      return HANDLED_SCALARS.has(f.scalar) ? { ...base, kind: "scalar", scalar: f.scalar } : null;
    case "enum":
      return handledEnum(f.enum) ? { ...base, kind: "enum", enum: f.enum } : null;
    case "message": {
      if (f.delimitedEncoding) return null;
      const kind = messageKind(f.message);
      return kind ? { ...base, kind, message: f.message } : null;
    }
    case "list":
      if (f.listKind === "scalar")
        return HANDLED_SCALARS.has(f.scalar) ? { ...base, kind: "list", itemKind: "scalar", scalar: f.scalar } : null;
      if (f.listKind === "enum") return handledEnum(f.enum) ? { ...base, kind: "list", itemKind: "enum", enum: f.enum } : null;
      if (f.delimitedEncoding || !messageKind(f.message)) return null;
      return { ...base, kind: "list", itemKind: messageKind(f.message), message: f.message };
    case "map":
      if (f.mapKey !== ScalarType.STRING) return null;
      if (f.mapKind === "scalar")
        return HANDLED_SCALARS.has(f.scalar) ? { ...base, kind: "map", itemKind: "scalar", scalar: f.scalar } : null;
      if (f.mapKind === "enum") return null;
      return messageKind(f.message) === "message" ? { ...base, kind: "map", itemKind: "message", message: f.message } : null;
  }
}

function plansOf(desc: DescMessage): Map<number, Plan | null> {
  let p = plans.get(desc);
  if (!p) {
    p = new Map(desc.fields.map((f) => [f.number, planOf(f)]));
    plans.set(desc, p);
  }
  return p;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** One decoding: the bytes, where it is, and the limits that make it decline. */
class Reader {
  pos = 0;
  private view: DataView | undefined;
  constructor(
    readonly buf: Buffer,
    readonly limits: InputLimits,
  ) {}

  varint(): number {
    const b = this.buf;
    let byte = b[this.pos++];
    let v = byte & 0x7f;
    if (byte < 0x80) return v;
    for (let shift = 7; shift < 28; shift += 7) {
      byte = b[this.pos++];
      v |= (byte & 0x7f) << shift;
      if (byte < 0x80) return v >>> 0;
    }
    byte = b[this.pos++];
    v |= (byte & 0x0f) << 28;
    // Bits above 32 are dropped, as protobuf-es does for 32-bit fields; a varint has at most 10 bytes.
    for (let i = 0; byte >= 0x80; i++) {
      if (i === 5 || this.pos >= b.length) throw DECLINE;
      byte = b[this.pos++];
    }
    if (this.pos > b.length) throw DECLINE;
    return v >>> 0;
  }

  /** A varint's truth (bool): any bit set in its up to 64 bits. */
  varintSet(): boolean {
    let any = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw DECLINE;
      const byte = this.buf[this.pos++];
      any |= byte & 0x7f;
      if (byte < 0x80) return any !== 0;
    }
    throw DECLINE;
  }

  /** The end of a length-delimited value starting here (its length read). */
  delimited(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw DECLINE;
    return end;
  }

  fixed(bytes: 4 | 8): number {
    const at = this.pos;
    this.pos += bytes;
    if (this.pos > this.buf.length) throw DECLINE;
    return at;
  }

  dataView(): DataView {
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }

  string(): string {
    const end = this.delimited();
    const start = this.pos;
    // UTF-8 has at least as many bytes as UTF-16 has units: within the limit in bytes is within it in characters.
    if (end - start > this.limits.maxStringLength) throw DECLINE;
    let ascii = true;
    for (let i = start; i < end; i++) {
      const c = this.buf[i];
      if (c === 0) throw DECLINE;
      if (c >= 0x80) ascii = false;
    }
    this.pos = end;
    if (ascii) return this.buf.toString("latin1", start, end);
    try {
      return strictUtf8.decode(this.buf.subarray(start, end));
    } catch {
      throw DECLINE;
    }
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varintSet();
        return;
      case 1:
        this.fixed(8);
        return;
      case 2:
        this.pos = this.delimited();
        return;
      case 5:
        this.fixed(4);
        return;
      default:
        throw DECLINE;
    }
  }
}

/** A scalar of `type` read with the wire type it must come in (declined otherwise). */
function readScalar(r: Reader, type: ScalarType, wireType: number): JsonValue {
  switch (type) {
    case ScalarType.STRING:
      if (wireType !== 2) throw DECLINE;
      return r.string();
    case ScalarType.BOOL:
      if (wireType !== 0) throw DECLINE;
      return r.varintSet();
    case ScalarType.INT32:
      if (wireType !== 0) throw DECLINE;
      return r.varint() | 0;
    case ScalarType.UINT32:
      if (wireType !== 0) throw DECLINE;
      return r.varint();
    case ScalarType.SINT32: {
      if (wireType !== 0) throw DECLINE;
      const n = r.varint();
      return (n >>> 1) ^ -(n & 1);
    }
    case ScalarType.FIXED32:
      if (wireType !== 5) throw DECLINE;
      return r.dataView().getUint32(r.fixed(4), true);
    case ScalarType.SFIXED32:
      if (wireType !== 5) throw DECLINE;
      return r.dataView().getInt32(r.fixed(4), true);
    case ScalarType.FLOAT:
      if (wireType !== 5) throw DECLINE;
      return floatJson(r.dataView().getFloat32(r.fixed(4), true));
    case ScalarType.DOUBLE:
      if (wireType !== 1) throw DECLINE;
      return floatJson(r.dataView().getFloat64(r.fixed(8), true));
    default:
      throw DECLINE;
  }
}

const floatJson = (n: number): JsonValue => (Number.isFinite(n) ? n : Number.isNaN(n) ? "NaN" : n > 0 ? "Infinity" : "-Infinity");

/** The zero value a field with implicit presence leaves out of JSON. */
const isZero = (v: JsonValue): boolean => v === "" || v === false || v === 0;

function enumJson(desc: DescEnum, n: number): JsonValue {
  return desc.value[n]?.name ?? n;
}

/** A message-typed value: its fields read into `into` (merged, as the wire says a repeated message is), or a Timestamp. */
function readMessageValue(r: Reader, kind: "message" | "timestamp", desc: DescMessage, depth: number, into?: JsonObject): JsonValue {
  const end = r.delimited();
  if (kind === "timestamp") {
    // Timestamps are few and their JSON has rules (RFC 3339, range): protobuf-es reads and writes them.
    if (into !== undefined) throw DECLINE;
    const ts = toJson(TimestampSchema, fromBinary(TimestampSchema, r.buf.subarray(r.pos, end)));
    r.pos = end;
    return ts;
  }
  return readFields(r, desc, end, depth + 1, into ?? {});
}

function readFields(r: Reader, desc: DescMessage, end: number, depth: number, out: JsonObject): JsonObject {
  if (depth > r.limits.maxDepth) throw DECLINE;
  const table = plansOf(desc);
  let maps: JsonObject[] | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    const number = tag >>> 3;
    const wireType = tag & 7;
    if (number === 0) throw DECLINE;
    const plan = table.get(number);
    if (plan === undefined) {
      // Unknown to this type: JSON leaves it out.
      r.skip(wireType);
      continue;
    }
    if (plan === null) throw DECLINE;
    switch (plan.kind) {
      case "scalar": {
        const v = readScalar(r, plan.scalar, wireType);
        if (plan.implicit && isZero(v)) delete out[plan.key];
        else out[plan.key] = v;
        break;
      }
      case "enum": {
        if (wireType !== 0) throw DECLINE;
        const n = r.varint() | 0;
        if (plan.implicit && n === plan.enum!.values[0].number) delete out[plan.key];
        else out[plan.key] = enumJson(plan.enum!, n);
        break;
      }
      case "message":
      case "timestamp": {
        if (wireType !== 2) throw DECLINE;
        const existing = out[plan.key] as JsonObject | undefined;
        out[plan.key] = readMessageValue(r, plan.kind, plan.message!, depth, existing);
        break;
      }
      case "list": {
        const list = (out[plan.key] as JsonValue[] | undefined) ?? [];
        if (plan.itemKind === "message" || plan.itemKind === "timestamp") {
          if (wireType !== 2) throw DECLINE;
          list.push(readMessageValue(r, plan.itemKind, plan.message!, depth));
        } else if (wireType === 2 && plan.scalar !== ScalarType.STRING) {
          // Packed.
          const packedEnd = r.delimited();
          const itemWire = plan.itemKind === "enum" ? 0 : wireTypeOf(plan.scalar);
          while (r.pos < packedEnd) list.push(listItem(r, plan, itemWire));
          if (r.pos !== packedEnd) throw DECLINE;
        } else list.push(listItem(r, plan, wireType));
        if (list.length > r.limits.maxItems) throw DECLINE;
        if (list.length) out[plan.key] = list;
        break;
      }
      case "map": {
        if (wireType !== 2) throw DECLINE;
        const map = (out[plan.key] as JsonObject | undefined) ?? {};
        readMapEntry(r, plan, map, depth);
        out[plan.key] = map;
        maps ??= [];
        if (!maps.includes(map)) maps.push(map);
        break;
      }
    }
  }
  if (r.pos !== end) throw DECLINE;
  // Entries are counted once the message is read (a key may come again): a map merged from two occurrences is whole.
  if (maps) for (const m of maps) if (Object.keys(m).length > r.limits.maxItems) throw DECLINE;
  return out;
}

function wireTypeOf(type: ScalarType): number {
  switch (type) {
    case ScalarType.DOUBLE:
      return 1;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return 5;
    default:
      return 0;
  }
}

function listItem(r: Reader, plan: Plan, wireType: number): JsonValue {
  if (plan.itemKind === "enum") {
    if (wireType !== 0) throw DECLINE;
    return enumJson(plan.enum!, r.varint() | 0);
  }
  return readScalar(r, plan.scalar, wireType);
}

/** One map entry (key 1, value 2; either may be missing and is then its zero value); a later entry of a key wins. */
function readMapEntry(r: Reader, plan: Plan, map: JsonObject, depth: number): void {
  const end = r.delimited();
  let key = "";
  let value: JsonValue | undefined;
  while (r.pos < end) {
    const tag = r.varint();
    const number = tag >>> 3;
    if (number === 1) key = readScalar(r, ScalarType.STRING, tag & 7) as string;
    else if (number === 2) {
      if (plan.itemKind === "message") {
        if ((tag & 7) !== 2) throw DECLINE;
        value = readMessageValue(r, "message", plan.message!, depth);
      } else value = readScalar(r, plan.scalar, tag & 7);
    } else throw DECLINE;
  }
  if (r.pos !== end) throw DECLINE;
  // A key that names Object.prototype's accessor would not become a property of a plain object.
  if (key === "__proto__") throw DECLINE;
  map[key] = value ?? (plan.itemKind === "message" ? {} : zeroOf(plan.scalar));
}

function zeroOf(type: ScalarType): JsonValue {
  return type === ScalarType.STRING ? "" : type === ScalarType.BOOL ? false : 0;
}

/**
 * The proto3 JSON of the `desc` message in `payload` (as toJson(desc, fromBinary(desc, payload)) would give it, key
 * order aside), or undefined when it is not one this reader takes (see the top of this file): then decode it the
 * general way, which also holds it to `limits`.
 */
export function wireToJson(desc: DescMessage, payload: Buffer, limits: InputLimits): JsonObject | undefined {
  try {
    return readFields(new Reader(payload, limits), desc, payload.length, 1, {});
  } catch {
    // Declined, or anything else (a Timestamp protobuf-es refused): the general path answers.
    return undefined;
  }
}
