// The RPC request of a REST call, in the proto JSON form Connect decodes: path variables, query parameters and body
// placed by the route's google.api.http binding (the standard transcoding rules), plus one extension flightctl's
// clients need: a query parameter that names no top-level field is looked up one level down, so flightctl's
// `?labelSelector=` reaches ListOptions `options.labelSelector` as `?options.labelSelector=` would.
import { type DescField, type DescMessage, type JsonObject, type JsonValue, ScalarType } from "@bufbuild/protobuf";
import { invalid } from "../errors.js";
import { quote } from "../../../lib/quote.js";
import type { RouteMatch } from "./rest-routes.js";

/** The request message as proto JSON; throws InvalidArgument naming the parameter or body that does not fit. */
export function buildRequest(match: RouteMatch, query: URLSearchParams, body: JsonValue | undefined): JsonObject {
  const { route, params } = match;
  const input = route.method.input;
  const req: JsonObject = {};
  if (route.body === "*") {
    if (body !== undefined) {
      if (!isObject(body)) throw invalid([{ field: "body", message: "must be a JSON object" }]);
      Object.assign(req, body);
    }
  } else if (route.body) {
    const field = input.fields.find((f) => f.name === route.body);
    if (!field) throw new Error(`${input.typeName} has no body field ${route.body}`);
    if (body === undefined) throw invalid([{ field: "body", message: "is required" }]);
    req[field.jsonName] = body;
  }
  for (const [name, raw] of Object.entries(params)) {
    const field = input.fields.find((f) => f.name === name);
    if (!field) throw new Error(`${input.typeName} has no path field ${name}`);
    let value: string;
    try {
      value = decodeURIComponent(raw);
    } catch {
      throw invalid([{ field: name, message: `path segment ${quote(raw)} is not valid percent-encoding` }]);
    }
    req[field.jsonName] = value;
  }
  if (route.body !== "*") {
    const bound = new Set([...Object.keys(params), route.body]);
    for (const name of new Set(query.keys())) setQueryParam(req, input, bound, name, query.getAll(name));
  }
  return req;
}

/** Places one query parameter (all its values) by field path; refuses names no field has. */
function setQueryParam(req: JsonObject, input: DescMessage, bound: Set<string>, name: string, values: string[]): void {
  const path = resolve(input, bound, name);
  if (!path) throw invalid([{ field: name, message: `unknown query parameter ${quote(name)}` }]);
  let target = req;
  for (const f of path.slice(0, -1)) {
    const next = target[f.jsonName];
    target = isObject(next) ? next : (target[f.jsonName] = {});
  }
  const leaf = path[path.length - 1];
  target[leaf.jsonName] = leaf.fieldKind === "list" ? values.map((v) => scalar(leaf, v)) : scalar(leaf, values[values.length - 1]);
}

/** The field path `name` denotes: dotted json or proto names, or a lone name found one level down (see above). */
function resolve(input: DescMessage, bound: Set<string>, name: string): DescField[] | undefined {
  const path: DescField[] = [];
  let msg: DescMessage | undefined = input;
  for (const part of name.split(".")) {
    const f: DescField | undefined = msg?.fields.find((x) => x.jsonName === part || x.name === part);
    if (!f || (path.length === 0 && bound.has(f.name))) break;
    path.push(f);
    msg = f.fieldKind === "message" ? f.message : undefined;
  }
  if (path.length === name.split(".").length && isQueryable(path[path.length - 1])) return path;
  if (name.includes(".")) return undefined;
  for (const outer of input.fields) {
    if (outer.fieldKind !== "message" || bound.has(outer.name)) continue;
    const inner = outer.message.fields.find((x) => x.jsonName === name || x.name === name);
    if (inner && isQueryable(inner)) return [outer, inner];
  }
  return undefined;
}

const isQueryable = (f: DescField) =>
  f.fieldKind === "scalar" || f.fieldKind === "enum" || (f.fieldKind === "list" && f.listKind !== "message");

/** A query string as the field's JSON value: numbers and booleans typed, anything else left for Connect to check. */
function scalar(f: DescField, v: string): JsonValue {
  const type = f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar") ? f.scalar : undefined;
  if (type === ScalarType.BOOL) return v === "true" ? true : v === "false" ? false : v;
  if (
    type === ScalarType.INT32 ||
    type === ScalarType.UINT32 ||
    type === ScalarType.SINT32 ||
    type === ScalarType.FIXED32 ||
    type === ScalarType.SFIXED32
  ) {
    return /^-?\d+$/.test(v) ? Number(v) : v;
  }
  return v;
}

const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
