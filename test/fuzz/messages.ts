// Request messages from a method's input descriptor (protobuf-es reflection): every field kind (scalars, enums,
// nested messages, repeated, maps, oneofs, the well-known Struct/Value/Timestamp), with random and boundary values,
// and the paths to fields of one sort (strings, repeated, Struct/Value) that the input kinds aim their bad values at.
import fc from "fast-check";
import { create, fromJson, type DescField, type DescMessage, type Message } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { jsonValueArb, mapKeyArb, scalarArb } from "./values.js";

/** Nested messages deeper than this are left unset (deep nesting is its own input kind, built on the wire). */
const MAX_DEPTH = 4;

export interface GenContext {
  /** Names of resources that exist, so some calls reach code past the lookup. */
  knownNames: readonly string[];
}

/** A plain object protobuf-es accepts as the value of `field` in create(): the message or its unboxed form. */
function messageValueArb(m: DescMessage, ctx: GenContext, depth: number): fc.Arbitrary<unknown> {
  switch (m.typeName) {
    case "google.protobuf.Struct":
      // Struct fields are JsonObject in protobuf-es messages.
      return fc.dictionary(fc.string({ maxLength: 8 }), jsonValueArb, { maxKeys: 4 });
    case "google.protobuf.Value":
      return jsonValueArb.map((j) => fromJson(ValueSchema, j as never));
    case "google.protobuf.Timestamp":
      // Valid range is years 1..9999; outside it binary still encodes, JSON cannot (the server must cope either way).
      return fc
        .record({
          seconds: fc.oneof(fc.bigInt({ min: -62135596800n, max: 253402300799n }), fc.constantFrom(0n, -(2n ** 63n), 2n ** 63n - 1n)),
          nanos: fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), fc.constantFrom(-1, 1_000_000_000)),
        })
        .map((t) => create(m, t as never));
    default:
      return messageArb(m, ctx, depth + 1);
  }
}

function singularArb(field: DescField, ctx: GenContext, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (field.fieldKind) {
    case "scalar":
      return scalarArb(field.scalar, ctx.knownNames, field.longAsString);
    case "enum":
      return fc.oneof(fc.constantFrom(...field.enum.values.map((v) => v.number)), fc.integer({ min: -3, max: 1000 }));
    case "message":
      return depth >= MAX_DEPTH ? undefined : messageValueArb(field.message, ctx, depth);
    case "list": {
      const el =
        field.listKind === "scalar"
          ? scalarArb(field.scalar, ctx.knownNames, field.longAsString)
          : field.listKind === "enum"
            ? fc.integer({ min: -1, max: field.enum.values.length + 1 })
            : depth >= MAX_DEPTH
              ? undefined
              : messageValueArb(field.message, ctx, depth);
      return el && fc.array(el, { maxLength: 4 });
    }
    case "map": {
      const val =
        field.mapKind === "scalar"
          ? scalarArb(field.scalar, ctx.knownNames)
          : field.mapKind === "enum"
            ? fc.integer({ min: -1, max: field.enum.values.length + 1 })
            : depth >= MAX_DEPTH
              ? undefined
              : messageValueArb(field.message, ctx, depth);
      return val && fc.dictionary(mapKeyArb(field.mapKey, ctx.knownNames).map(String), val, { maxKeys: 4 });
    }
  }
}

const cache = new WeakMap<DescMessage, Map<number, fc.Arbitrary<Message>>>();

/** A message of type `desc`: each field set or not, oneofs to one of their members or none. */
export function messageArb(desc: DescMessage, ctx: GenContext, depth = 0): fc.Arbitrary<Message> {
  const byDepth = cache.get(desc) ?? new Map();
  cache.set(desc, byDepth);
  const hit = byDepth.get(depth);
  if (hit) return hit;
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === "oneof") {
      const choices = member.fields.flatMap((f) => {
        const a = singularArb(f, ctx, depth);
        return a ? [a.map((value) => ({ case: f.localName, value }))] : [];
      });
      if (choices.length) parts[member.localName] = fc.option(fc.oneof(...choices), { nil: undefined, freq: 3 });
      continue;
    }
    const a = singularArb(member, ctx, depth);
    // Top-level fields are set more often: they are what handlers read first.
    if (a) parts[member.localName] = fc.option(a, { nil: undefined, freq: depth === 0 ? 4 : 2 });
  }
  const arb = fc.record(parts).map((init) => create(desc, stripUndefined(init) as never) as Message);
  byDepth.set(depth, arb);
  return arb;
}

function stripUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** A route from a message to a field: each step a field; message and list-of-message steps lead on. */
export type FieldPath = DescField[];

/** Every path (up to `maxDepth` steps, not into well-known types or cycles) from `desc` to a field `accept` takes. */
export function findPaths(desc: DescMessage, accept: (f: DescField) => boolean, maxDepth = 4): FieldPath[] {
  const out: FieldPath[] = [];
  const walk = (m: DescMessage, prefix: FieldPath, seen: Set<string>) => {
    for (const f of m.fields) {
      if (accept(f)) out.push([...prefix, f]);
      const next = f.fieldKind === "message" ? f.message : f.fieldKind === "list" && f.listKind === "message" ? f.message : undefined;
      if (!next || next.typeName.startsWith("google.protobuf.") || seen.has(next.typeName) || prefix.length + 1 >= maxDepth) continue;
      walk(next, [...prefix, f], new Set([...seen, next.typeName]));
    }
  };
  walk(desc, [], new Set([desc.typeName]));
  return out;
}

export const isString = (f: DescField) => f.fieldKind === "scalar" && f.scalar === 9; /* ScalarType.STRING */
export const isRepeated = (f: DescField) => f.fieldKind === "list" || f.fieldKind === "map";
export const isJsonish = (f: DescField) =>
  (f.fieldKind === "message" || (f.fieldKind === "list" && f.listKind === "message")) &&
  (f.message?.typeName === "google.protobuf.Value" || f.message?.typeName === "google.protobuf.Struct");

/** The message a step leads into (created if unset; for a list, its first element). */
function child(msg: Record<string, unknown>, f: DescField): Record<string, unknown> {
  const sub = f.message as DescMessage;
  if (f.fieldKind === "list") {
    const list = msg[f.localName] as unknown[];
    if (list.length === 0) list.push(create(sub));
    return list[0] as Record<string, unknown>;
  }
  if (f.oneof) {
    const cur = msg[f.oneof.localName] as { case?: string; value?: unknown };
    if (cur.case !== f.localName) msg[f.oneof.localName] = { case: f.localName, value: create(sub) };
    return (msg[f.oneof.localName] as { value: Record<string, unknown> }).value;
  }
  msg[f.localName] ??= create(sub);
  return msg[f.localName] as Record<string, unknown>;
}

/** Sets the field at the end of `path` in `msg` (in place) to `value`. */
export function setAtPath(msg: Message, path: FieldPath, value: unknown): void {
  let cur = msg as unknown as Record<string, unknown>;
  for (const f of path.slice(0, -1)) cur = child(cur, f);
  const last = path[path.length - 1];
  if (last.oneof) cur[last.oneof.localName] = { case: last.localName, value };
  else cur[last.localName] = value;
}

/** Dotted field names of a path (for reports). */
export const pathName = (path: FieldPath) => path.map((f) => f.name).join(".");
