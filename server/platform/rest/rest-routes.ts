// flightctl's REST routes, read from the google.api.http option of every unary method an endpoint serves: one route
// per annotation, so the proto stays the one contract and no route is written by hand.
import { type DescField, type DescMethod, type DescService, getOption, hasOption } from "@bufbuild/protobuf";
import { http } from "../../../gen/third_party/google/api/annotations_pb.js";

/** One segment of a path template: literal text, or a variable bound to a request field (by proto name). */
type Segment = { literal: string } | { field: string };

/** An HTTP binding of one RPC. */
export interface RestRoute {
  verb: string;
  template: string;
  method: DescMethod;
  segments: Segment[];
  /** "" (no body), "*" (the whole request) or the proto name of the request field the body is. */
  body: string;
  /** The response field (proto name) that is the HTTP body; undefined: the whole response. */
  responseBody?: DescField;
}

/** Every HTTP binding of the unary methods of `services`, literal segments preferred over variables when matching. */
export function restRoutes(services: DescService[]): RestRoute[] {
  const routes: RestRoute[] = [];
  for (const service of services) {
    for (const method of service.methods) {
      if (method.methodKind !== "unary" || !hasOption(method, http)) continue;
      const rule = getOption(method, http);
      const { case: verb, value } = rule.pattern;
      if (verb === undefined || verb === "custom" || typeof value !== "string") continue;
      const responseBody = rule.responseBody ? method.output.fields.find((f) => f.name === rule.responseBody) : undefined;
      if (rule.responseBody && !responseBody)
        throw new Error(`${method.parent.typeName}.${method.name}: no response field ${rule.responseBody}`);
      routes.push({ verb: verb.toUpperCase(), template: value, method, segments: parseTemplate(value), body: rule.body, responseBody });
    }
  }
  const literals = (r: RestRoute) => r.segments.filter((s) => "literal" in s).length;
  return routes.sort((a, b) => literals(b) - literals(a));
}

/** "/api/v1/devices/{name}/status" → its segments; only single-segment variables, the only kind flightctl uses. */
function parseTemplate(template: string): Segment[] {
  return template
    .split("/")
    .slice(1)
    .map((s) => {
      const m = /^\{([a-z_][a-z0-9_]*)\}$/.exec(s);
      return m ? { field: m[1] } : { literal: s };
    });
}

/** What matched a request: the route and its path variables (field proto name → decoded value). */
export interface RouteMatch {
  route: RestRoute;
  params: Record<string, string>;
}

/**
 * The route for `verb` and `path`, or undefined; `allowed` lists the verbs the path has otherwise (for 405). Path
 * segments are percent-decoded after matching, so an encoded "/" stays inside its variable.
 */
export function matchRoute(routes: RestRoute[], verb: string, path: string): { match?: RouteMatch; allowed: string[] } {
  const parts = path.split("/").slice(1);
  const allowed: string[] = [];
  for (const route of routes) {
    const params = matchSegments(route.segments, parts);
    if (!params) continue;
    if (route.verb === verb) return { match: { route, params }, allowed };
    allowed.push(route.verb);
  }
  return { allowed };
}

function matchSegments(segments: Segment[], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if ("literal" in s) {
      if (s.literal !== parts[i]) return undefined;
    } else {
      if (parts[i] === "") return undefined;
      params[s.field] = parts[i];
    }
  }
  return params;
}
