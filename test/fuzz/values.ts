// Field-value arbitraries for the fuzz suite: random and boundary values per protobuf scalar type, and the hostile
// strings bad input is made of (empty, NUL, lone surrogates, huge, selector and path syntax, names that exist).
import fc from "fast-check";
import { ScalarType } from "@bufbuild/protobuf";

/** Strings that have broken servers before, or should be refused with a clear error. */
const HOSTILE_STRINGS = [
  "",
  " ",
  "\0",
  "a\0b",
  "\0\0\0",
  "\ud800",
  "a\udc00b",
  "\uffff",
  "\ufeff",
  "\u202e",
  "💥",
  "é",
  "\r\n",
  "../../etc/passwd",
  "' OR 1=1 --",
  "%00",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal template placeholder is the hostile value
  "${x}",
  "{{ .metadata.name }}",
  "-",
  ".",
  "A",
  "null",
  "-1",
  "9".repeat(40),
  "x=y",
  "!x",
  "x in (a,b)",
  "x notin (",
  "metadata.name=x",
  "metadata.name in (a",
  "status.summary.status!=Online",
  "*",
  "a".repeat(253),
  "a".repeat(254),
  "a".repeat(64 * 1024),
  "00000000-0000-0000-0000-000000000000",
  "/",
  "~",
];

/** A string built from lone UTF-16 surrogates (not representable in UTF-8). */
const loneSurrogates = fc
  .array(fc.integer({ min: 0xd800, max: 0xdfff }), { minLength: 1, maxLength: 4 })
  .map((cs) => String.fromCharCode(...cs));

const stringArbs = new WeakMap<readonly string[], fc.Arbitrary<string>>();

/** Any string a field may get: random, hostile, or a name that exists (so calls reach deeper code). Built once per list. */
export function stringArb(knownNames: readonly string[]): fc.Arbitrary<string> {
  let arb = stringArbs.get(knownNames);
  if (!arb) stringArbs.set(knownNames, (arb = buildStringArb(knownNames)));
  return arb;
}

function buildStringArb(knownNames: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
    { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
    { weight: 3, arbitrary: fc.constantFrom(...knownNames) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 24 }) },
    { weight: 1, arbitrary: loneSurrogates },
    { weight: 1, arbitrary: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom(...knownNames), fc.constantFrom("\0", "\ud800", "%", "_", "'", "/"))
        .map(([name, bad]) => name + bad),
    },
  );
}

const INT32 = fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1, 2147483647, -2147483648));
const UINT32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0xffffffff));
const INT64 = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.constantFrom(0n, -1n, 2n ** 63n - 1n, -(2n ** 63n)));
const UINT64 = fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 1n, 2n ** 64n - 1n));

/** A value of protobuf scalar type `t` (64-bit as bigint, or as string when the field says so). */
export function scalarArb(t: ScalarType, knownNames: readonly string[], longAsString = false): fc.Arbitrary<unknown> {
  const long = (a: fc.Arbitrary<bigint>) => (longAsString ? a.map(String) : a);
  switch (t) {
    case ScalarType.STRING:
      return stringArb(knownNames);
    case ScalarType.BYTES:
      return fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(0)));
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return INT32;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return UINT32;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(INT64);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(UINT64);
    case ScalarType.DOUBLE:
      return fc.double();
    case ScalarType.FLOAT:
      return fc.float();
  }
}

/** A map key of scalar type `t` as protobuf-es keys maps (strings, numbers, or strings for 64-bit and bool keys). */
export function mapKeyArb(t: ScalarType, knownNames: readonly string[]): fc.Arbitrary<string | number> {
  if (t === ScalarType.STRING) return stringArb(knownNames);
  if (t === ScalarType.BOOL) return fc.constantFrom("true", "false");
  return scalarArb(t, knownNames).map((v) => (typeof v === "bigint" ? String(v) : (v as number)));
}

/** JSON values for google.protobuf.Value / Struct fields (bounded depth; deep nesting is its own input kind). */
export const jsonValueArb = fc.jsonValue({ maxDepth: 4 });
