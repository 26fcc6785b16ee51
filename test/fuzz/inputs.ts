// What one fuzz case sends: a target (endpoint, service, method), a protocol, and an input of one kind. Message
// inputs go through connect-node's clients as real clients would send them; raw inputs are bytes the clients cannot
// produce (invalid UTF-8, nesting past the decoder's limits, garbage, truncated or misframed bodies, bad JSON, wrong
// content types), rendered per protocol at send time.
import fc from "fast-check";
import { create, toBinary, toJson, type DescMessage, type DescMethod, type DescService, type Message } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import {
  findPaths,
  isJsonish,
  isRepeated,
  isString,
  messageArb,
  pathName,
  setAtPath,
  type FieldPath,
  type GenContext,
} from "./messages.js";
import { contentType, envelope, enveloped, protocolsFor, type Protocol } from "./protocols.js";

/** Which endpoint and credentials a target is called with. */
export type Credential = "admin" | "device" | "enrollment";

export interface Target {
  endpoint: "user" | "agent";
  credential: Credential;
  service: DescService;
  method: DescMethod;
  knownNames: readonly string[];
}

export type Input =
  | { kind: "message"; label: "random" | "huge-repeated" | "huge-string"; msg: Message; note: string }
  | { kind: "raw"; label: "invalid-utf8"; msg: Message; bad: number[]; note: string }
  | { kind: "raw"; label: "deep-nesting"; path: FieldPath; depth: number; note: string }
  | { kind: "raw"; label: "garbage"; bytes: Uint8Array; note: string }
  | { kind: "raw"; label: "oversized"; size: number; note: string }
  | { kind: "raw"; label: "truncated"; msg: Message; keep: number; frameLie: boolean; note: string }
  | {
      kind: "raw";
      label: "bad-frame";
      msg: Message;
      frame: "length-lie" | "compressed" | "two-messages" | "short-header" | "trailing-junk" | "empty-body";
      note: string;
    }
  | { kind: "raw"; label: "bad-json"; text: string; note: string }
  | { kind: "raw"; label: "content-type"; msg: Message; contentType: string; note: string };

export interface FuzzCase {
  target: Target;
  protocol: Protocol;
  input: Input;
  /** Send the credential's bearer token (user endpoint); false tests the unauthenticated path. */
  auth: boolean;
}

/** A code point UTF-8 encodes as F4 8F BF BD; random strings practically never contain it. */
const MARK = "\u{10FFFD}";
const MARK_BYTES = [0xf4, 0x8f, 0xbf, 0xbd];

const BAD_UTF8: number[][] = [
  [0xff],
  [0xc0, 0xaf], // overlong "/"
  [0xed, 0xa0, 0x80], // an encoded surrogate
  [0xe2, 0x82], // truncated sequence
  [0x80], // lone continuation byte
  [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
  [0x61, 0x00, 0xfe], // NUL then an invalid byte
];

/** Garbage bodies: random bytes, and a few shapes aimed at the protobuf decoder. */
const garbageArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 256 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // length far past the end
      new Uint8Array([0x00]), // field number 0
      new Uint8Array([0x0b]), // start-group without end
      new Uint8Array(50_000).fill(0x0b), // 50,000 nested start-groups
      new Uint8Array([0x0a, 0x80]), // truncated varint
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), // 11-byte varint tag
      new Uint8Array([0x0d, 0x01]), // fixed32 cut short
    ),
  },
);

const badJsonArb = fc.oneof(
  fc.constantFrom(
    "",
    "{",
    "[]",
    "null",
    "1",
    '"x"',
    '{"name":}',
    '{"name":1}',
    '{"name":["a"]}',
    '{"name":{"a":1}}',
    '{"unknownField":1}',
    '{"name":"\\u0000"}',
    '{"name":"\\ud800"}',
    '{"__proto__":{"x":1}}',
    '{"orgId":"not-a-uuid"}',
    "{".repeat(100_000),
  ),
  fc.json({ maxDepth: 3 }),
  fc.string({ maxLength: 64 }),
);

const badContentTypes = fc.constantFrom(
  "text/plain",
  "application/x-www-form-urlencoded",
  "application/json; charset=latin1",
  "application/grpc+nope",
  "application/proto; charset=utf-8",
  "",
);

function strings(desc: DescMessage) {
  return findPaths(desc, isString);
}

/** The input kinds that apply to `method`, weighted (the cheap, broad ones most). */
export function inputArb(target: Target): fc.Arbitrary<Input> {
  const input = target.method.input;
  const ctx: GenContext = { knownNames: target.knownNames };
  const msg = messageArb(input, ctx);
  const stringPaths = strings(input);
  const repeatedPaths = findPaths(input, isRepeated, 3);
  const jsonPaths = findPaths(input, isJsonish);
  const kinds: fc.WeightedArbitrary<Input>[] = [
    { weight: 40, arbitrary: msg.map((m) => ({ kind: "message", label: "random", msg: m, note: "" }) as const) },
    { weight: 8, arbitrary: garbageArb.map((bytes) => ({ kind: "raw", label: "garbage", bytes, note: `${bytes.length} bytes` }) as const) },
    {
      weight: 8,
      arbitrary: fc.record({ msg, keep: fc.double({ min: 0, max: 0.999, noNaN: true }), frameLie: fc.boolean() }).map(
        (r) =>
          ({
            kind: "raw",
            label: "truncated",
            ...r,
            note: `keep ${(r.keep * 100).toFixed(0)}%${r.frameLie ? ", frame says full length" : ""}`,
          }) as const,
      ),
    },
    {
      weight: 5,
      arbitrary: fc
        .record({ msg, frame: fc.constantFrom("length-lie", "compressed", "two-messages", "short-header", "trailing-junk", "empty-body") })
        .map((r) => ({ kind: "raw", label: "bad-frame", ...r, note: r.frame }) as const),
    },
    {
      // Past the 4 MiB limit (and just at it): the answer must be ResourceExhausted, at once, on every protocol.
      weight: 1,
      arbitrary: fc
        .constantFrom(4 * 1024 * 1024 + 1, 5 * 1024 * 1024, 16 * 1024 * 1024)
        .map((size) => ({ kind: "raw", label: "oversized", size, note: `${size} bytes` }) as const),
    },
    { weight: 5, arbitrary: badJsonArb.map((text) => ({ kind: "raw", label: "bad-json", text, note: text.slice(0, 60) }) as const) },
    {
      weight: 2,
      arbitrary: fc
        .record({ msg, contentType: badContentTypes })
        .map((r) => ({ kind: "raw", label: "content-type", ...r, note: r.contentType }) as const),
    },
  ];
  if (stringPaths.length) {
    kinds.push({
      weight: 10,
      arbitrary: fc.record({ msg, path: fc.constantFrom(...stringPaths), bad: fc.constantFrom(...BAD_UTF8) }).map(({ msg, path, bad }) => {
        const m = structuredCloneMessage(input, msg);
        setAtPath(m, path, MARK.repeat(Math.ceil(bad.length / 4)));
        return {
          kind: "raw",
          label: "invalid-utf8",
          msg: m,
          bad,
          note: `${pathName(path)} = ${bad.map((b) => b.toString(16)).join(" ")}`,
        } as const;
      }),
    });
    kinds.push({
      weight: 2,
      arbitrary: fc
        .record({
          msg,
          path: fc.constantFrom(...stringPaths),
          size: fc.constantFrom(1 << 20, 3 << 20, 5 << 20),
          ch: fc.constantFrom("a", "é", "\0"),
        })
        .map(({ msg, path, size, ch }) => {
          const m = structuredCloneMessage(input, msg);
          setAtPath(m, path, ch.repeat(size / Buffer.byteLength(ch)));
          return {
            kind: "message",
            label: "huge-string",
            msg: m,
            note: `${pathName(path)}: ${size} bytes of ${JSON.stringify(ch)}`,
          } as const;
        }),
    });
  }
  if (repeatedPaths.length) {
    kinds.push({
      weight: 1,
      arbitrary: fc
        .record({ msg, path: fc.constantFrom(...repeatedPaths), n: fc.constantFrom(100_000, 10_000) })
        .map(({ msg, path, n }) => {
          const m = structuredCloneMessage(input, msg);
          setAtPath(m, path, manyOf(path[path.length - 1], n));
          return { kind: "message", label: "huge-repeated", msg: m, note: `${pathName(path)}: ${n} items` } as const;
        }),
    });
  }
  if (jsonPaths.length) {
    // Each level is a Value and a ListValue: 50 levels reach protobuf-es's recursion limit of 100.
    kinds.push({
      weight: 4,
      arbitrary: fc
        .record({ path: fc.constantFrom(...jsonPaths), depth: fc.constantFrom(30, 50, 51, 1000, 100_000) })
        .map(
          ({ path, depth }) => ({ kind: "raw", label: "deep-nesting", path, depth, note: `${pathName(path)}: depth ${depth}` }) as const,
        ),
    });
  }
  return fc.oneof(...kinds);
}

/**
 * A deep copy (the shared generated value must not be mutated: fast-check may reuse it while shrinking). Not
 * protobuf-es's clone(): it refuses the lone surrogates some generated strings carry.
 */
const structuredCloneMessage = (_desc: DescMessage, m: Message): Message => structuredClone(m);

/** `n` items for a repeated or map field: small, valid elements, so only the count is hostile. */
function manyOf(field: FieldPath[number], n: number): unknown {
  const el = (kind: string, scalar?: number, message?: DescMessage): unknown => {
    if (kind === "message") return create(message!);
    if (kind === "enum") return 0;
    switch (scalar) {
      case 9:
        return "a";
      case 12:
        return new Uint8Array(0);
      case 8:
        return true;
      case 3:
      case 4:
      case 6:
      case 16:
      case 18:
        return 1n;
      default:
        return 1;
    }
  };
  if (field.fieldKind === "list") {
    const one = el(field.listKind, field.scalar, field.message);
    return Array.from({ length: n }, () => (field.listKind === "message" ? create(field.message!) : one));
  }
  if (field.fieldKind === "map") {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < n; i++) out[field.mapKey === 9 ? `k${i}` : String(i)] = el(field.mapKind, field.scalar, field.message);
    return out;
  }
  return undefined;
}

/** The cases for every target, spread evenly over targets first (each method gets its share). */
export function caseArb(targets: readonly Target[]): fc.Arbitrary<FuzzCase> {
  const perTarget = new Map(targets.map((t) => [t, inputArb(t)]));
  return fc.constantFrom(...targets).chain((target) =>
    fc.record({
      target: fc.constant(target),
      protocol: fc.constantFrom(...protocolsFor(target.method)),
      input: perTarget.get(target)!,
      auth: fc.integer({ min: 0, max: 19 }).map((i) => i !== 0 || target.endpoint === "agent"),
    }),
  );
}

const utf8 = new TextEncoder();

/** The payload of `msg` in `p`'s format; undefined when protobuf-es cannot encode it so (e.g. JSON of a bad Timestamp). */
export function encodeMessage(p: Protocol, desc: DescMessage, msg: Message): Uint8Array | undefined {
  try {
    return p.format === "binary" ? toBinary(desc, msg) : utf8.encode(JSON.stringify(toJson(desc, msg)));
  } catch {
    return undefined;
  }
}

function replaceMarks(payload: Uint8Array, bad: number[]): Uint8Array {
  const n = Math.ceil(bad.length / 4);
  const needle = Buffer.from(Array.from({ length: n }, () => MARK_BYTES).flat());
  const at = Buffer.from(payload).indexOf(needle);
  if (at < 0) return payload;
  const out = new Uint8Array(payload);
  const padded = [...bad, ...Array(n * 4 - bad.length).fill(0x78)];
  out.set(padded, at);
  return out;
}

/** Value nested `depth` levels as list values, on the wire (built inside out, linear time). */
function deepValueBinary(depth: number): Uint8Array[] {
  const base = new BinaryWriter().tag(1, WireType.Varint).int32(0).finish(); // null_value
  const prefixes: Uint8Array[] = [];
  let size = base.length;
  for (let i = 0; i < depth; i++) {
    const inner = new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(size).finish(); // ListValue.values
    const outer = new BinaryWriter()
      .tag(6, WireType.LengthDelimited)
      .uint32(inner.length + size)
      .finish(); // Value.list_value
    prefixes.push(concat([outer, inner]));
    size += inner.length + outer.length;
  }
  return [...prefixes.reverse(), base];
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** The deep-nesting body for `path` (ending at a Value or Struct field) in binary or JSON. */
function deepBody(p: Protocol, path: FieldPath, depth: number): Uint8Array {
  const last = path[path.length - 1];
  const struct = last.message?.typeName === "google.protobuf.Struct";
  if (p.format === "json") {
    let text = `${"[".repeat(depth)}null${"]".repeat(depth)}`;
    if (struct) text = `{"k":${text}}`;
    for (const f of [...path].reverse()) text = `{${JSON.stringify(f.jsonName)}:${f.fieldKind === "list" ? `[${text}]` : text}}`;
    return utf8.encode(text);
  }
  let parts = deepValueBinary(depth);
  let size = parts.reduce((n, b) => n + b.length, 0);
  const wrap = (fieldNo: number) => {
    const head = new BinaryWriter().tag(fieldNo, WireType.LengthDelimited).uint32(size).finish();
    parts = [head, ...parts];
    size += head.length;
  };
  if (struct) {
    // Struct.fields entry { key = "k", value = <deep> }, then the entry itself.
    const key = new BinaryWriter().tag(1, WireType.LengthDelimited).string("k").finish();
    const head = new BinaryWriter().tag(2, WireType.LengthDelimited).uint32(size).finish();
    parts = [key, head, ...parts];
    size += key.length + head.length;
    wrap(1);
  }
  for (const f of [...path].reverse()) wrap(f.number);
  return concat(parts);
}

export interface RawRequest {
  body: Uint8Array;
  contentType: string;
  extraHeaders?: Record<string, string>;
}

/** The bytes a raw input puts on the wire in protocol `p`; undefined when the input does not apply. */
export function renderRaw(c: FuzzCase): RawRequest | undefined {
  const { protocol: p, input, target } = c;
  const method = target.method;
  const env = enveloped(p, method);
  const frame = (payload: Uint8Array) => (env ? envelope(payload) : payload);
  const ct = contentType(p, method);
  if (input.kind !== "raw") return undefined;
  switch (input.label) {
    case "invalid-utf8": {
      const payload = encodeMessage(p, method.input, input.msg);
      return payload && { body: frame(replaceMarks(payload, input.bad)), contentType: ct };
    }
    case "deep-nesting":
      return { body: frame(deepBody(p, input.path, input.depth)), contentType: ct };
    case "garbage":
      return { body: frame(input.bytes), contentType: ct };
    case "oversized":
      // Field 1 as one long length-delimited value: a plausible message, just too big.
      return {
        body: frame(
          concat([new BinaryWriter().tag(1, WireType.LengthDelimited).uint32(input.size).finish(), new Uint8Array(input.size).fill(0x61)]),
        ),
        contentType: ct,
      };
    case "bad-json":
      return { body: frame(utf8.encode(input.text)), contentType: ct };
    case "content-type": {
      const payload = encodeMessage(p, method.input, input.msg);
      return payload && { body: frame(payload), contentType: input.contentType };
    }
    case "truncated": {
      const payload = encodeMessage(p, method.input, input.msg);
      if (!payload) return undefined;
      const cut = payload.subarray(0, Math.floor(payload.length * input.keep));
      if (!env) return { body: cut, contentType: ct };
      return { body: input.frameLie ? envelope(cut, 0, payload.length) : envelope(cut), contentType: ct };
    }
    case "bad-frame": {
      const payload = encodeMessage(p, method.input, input.msg);
      if (!payload) return undefined;
      switch (input.frame) {
        case "length-lie":
          return { body: env ? envelope(payload, 0, 0xffffffff) : payload, contentType: ct };
        case "compressed":
          return { body: env ? envelope(payload, 1) : payload, contentType: ct, extraHeaders: env ? {} : { "content-encoding": "gzip" } };
        case "two-messages":
          return { body: env ? concat([envelope(payload), envelope(payload)]) : concat([payload, payload]), contentType: ct };
        case "short-header":
          return { body: env ? envelope(payload).subarray(0, 3) : payload.subarray(0, 1), contentType: ct };
        case "trailing-junk":
          return { body: concat([frame(payload), new Uint8Array([0xde, 0xad, 0xbe, 0xef])]), contentType: ct };
        case "empty-body":
          return { body: new Uint8Array(0), contentType: ct };
      }
    }
  }
}

/** One line naming a case (for reports). */
export function describeCase(c: FuzzCase): string {
  return `${c.target.endpoint} ${c.target.service.typeName}/${c.target.method.name} ${c.protocol.name} ${c.input.label}${c.input.note ? ` (${c.input.note})` : ""}${c.auth ? "" : " unauthenticated"}`;
}
