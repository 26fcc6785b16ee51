// proto3 JSON leaves an empty list out, flightctl's JSON writes the lists its schemas require (status.conditions,
// status.applications, a list's items, …) even when empty, and its clients and schemas expect them. REST answers put
// absent lists back as [], except inside a spec: there flightctl leaves optional lists out and gives some a minimum of
// one item (selector.matchExpressions), so a spec is returned as it was written.
import { type DescMessage, type JsonValue, ScalarType } from "@bufbuild/protobuf";
import { FeatureSet_FieldPresence } from "@bufbuild/protobuf/wkt";

/** `json` (the proto JSON of a `desc` message) with each absent repeated field outside specs as []. In place. */
export function withEmptyLists(desc: DescMessage, json: JsonValue | undefined): JsonValue | undefined {
  if (!isObject(json) || desc.typeName.startsWith("google.protobuf.")) return json;
  for (const f of desc.fields) {
    if (f.name === "spec") continue;
    const v = json[f.jsonName];
    if (f.fieldKind === "list") {
      if (v === undefined) json[f.jsonName] = [];
      else if (f.listKind === "message" && Array.isArray(v)) for (const item of v) withEmptyLists(f.message, item);
    } else if (f.fieldKind === "message") {
      withEmptyLists(f.message, v);
    } else if (f.fieldKind === "map" && f.mapKind === "message" && isObject(v)) {
      for (const item of Object.values(v)) withEmptyLists(f.message, item);
    }
  }
  return json;
}

const isObject = (v: JsonValue | undefined): v is { [k: string]: JsonValue } => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * `json` with the answer's own zero-valued numbers, booleans and strings written out (proto3 JSON leaves them out):
 * flightctl requires them (DeviceResumeResponse.resumedDevices is 0 when nothing was resumed). Top level only. In place.
 */
export function withTopLevelZeros(desc: DescMessage, json: JsonValue): JsonValue {
  if (!isObject(json)) return json;
  for (const f of desc.fields) {
    if (f.fieldKind !== "scalar" || f.presence !== FeatureSet_FieldPresence.IMPLICIT || json[f.jsonName] !== undefined) continue;
    json[f.jsonName] =
      f.scalar === ScalarType.BOOL
        ? false
        : f.scalar === ScalarType.STRING || f.scalar === ScalarType.BYTES
          ? ""
          : is64(f.scalar)
            ? "0"
            : 0;
  }
  return json;
}

const is64 = (t: ScalarType) =>
  [ScalarType.INT64, ScalarType.UINT64, ScalarType.SINT64, ScalarType.FIXED64, ScalarType.SFIXED64].includes(t);
