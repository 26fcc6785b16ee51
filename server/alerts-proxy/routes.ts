// What the proxy serves of Alertmanager's API v2, each path with the permission it needs and its organization rule
// (server/alertmanager/org-scope.ts): reads see only the caller's organization, silences are created only scoped to
// it and read, replaced or deleted only when they are its. Nothing is passed through unchecked.
import { forbidden, invalid, notFound } from "../platform/errors.js";
import type { AlertmanagerClient, AlertQuery } from "../alertmanager/alertmanager-client.js";
import { formatMatcher, parseMatcher, type Matcher } from "../alertmanager/matchers.js";
import { ownAlert, ownSilence, requestedOrg, scopedFilter, scopedSilence, silenceOrg } from "../alertmanager/org-scope.js";
import { resolveCaller, type ProxyAuth } from "./caller.js";
import { parseSilence } from "./silence-body.js";
import { quote } from "../../lib/quote.js";

/** A request as the routes see it. */
export interface ProxyRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | null;
  /** The parsed JSON body (POST). */
  body(): Promise<unknown>;
}

/** A JSON answer (status 200 unless said). */
export interface ProxyAnswer {
  status?: number;
  json: unknown;
}

type Route = (req: ProxyRequest, deps: { am: AlertmanagerClient; auth: ProxyAuth }) => Promise<ProxyAnswer>;

const BOOLEAN_PARAMS = ["active", "silenced", "inhibited", "unprocessed"] as const;

/** Refuses query parameters the path does not take (a typo would otherwise be silently ignored). */
function onlyParams(q: URLSearchParams, allowed: readonly string[]): void {
  for (const k of new Set(q.keys())) {
    if (!allowed.includes(k))
      throw invalid({ field: k, message: `is not a parameter of this path (it takes ${allowed.join(", ") || "none"})` });
  }
}

const filtersOf = (q: URLSearchParams): Matcher[] => q.getAll("filter").map((f, i) => parseMatcher(f, `filter[${i}]`));

/** The organization the request names: its org_id="…" filter and/or its org_id parameter (they must agree). */
function namedOrg(q: URLSearchParams, filters: readonly Matcher[]): string | undefined {
  const fromFilter = requestedOrg(filters);
  const fromParam = q.get("org_id") ?? undefined;
  if (fromFilter !== undefined && fromParam !== undefined && fromFilter !== fromParam) {
    throw forbidden("the org_id filter and the org_id parameter name different organizations");
  }
  return fromFilter ?? fromParam;
}

function alertQuery(q: URLSearchParams, filter: string[], booleans: readonly string[]): AlertQuery {
  const out: AlertQuery = { filter };
  for (const k of booleans) {
    const v = q.get(k);
    if (v === null) continue;
    if (v !== "true" && v !== "false") throw invalid({ field: k, message: `must be true or false, got ${quote(v)}` });
    out[k as (typeof BOOLEAN_PARAMS)[number]] = v === "true";
  }
  const receiver = q.get("receiver");
  if (receiver !== null) {
    try {
      new RegExp(receiver);
    } catch (e) {
      throw invalid({ field: "receiver", message: `bad regular expression: ${(e as Error).message}` });
    }
    out.receiver = receiver;
  }
  return out;
}

/** GET /api/v2/alerts and /alerts/groups: the caller's organization's alerts only. */
function readAlerts(groups: boolean): Route {
  const booleans = groups ? BOOLEAN_PARAMS.filter((b) => b !== "unprocessed") : BOOLEAN_PARAMS;
  return async (req, { am, auth }) => {
    onlyParams(req.query, ["filter", "receiver", "org_id", ...booleans]);
    const filters = filtersOf(req.query);
    const caller = await resolveCaller(auth, req.authorization, namedOrg(req.query, filters), "alerts", "list");
    const query = alertQuery(req.query, scopedFilter(filters, caller.orgId), booleans);
    if (!groups) return { json: (await am.alerts(query)).filter((a) => ownAlert(a, caller.orgId)) };
    const list = await am.groups(query);
    return {
      json: list.map((g) => ({ ...g, alerts: g.alerts.filter((a) => ownAlert(a, caller.orgId)) })).filter((g) => g.alerts.length > 0),
    };
  };
}

/** GET /api/v2/silences: the organization's silences only. */
const listSilences: Route = async (req, { am, auth }) => {
  onlyParams(req.query, ["filter", "org_id"]);
  const filters = filtersOf(req.query);
  const caller = await resolveCaller(auth, req.authorization, namedOrg(req.query, filters), "alerts/silences", "list");
  // Alertmanager matches a silence filter against the silence's own matchers; org_id is settled by ownSilence.
  const rest = filters.filter((m) => m.name !== "org_id");
  return { json: (await am.silences(rest.map(formatMatcher))).filter((s) => ownSilence(s, caller.orgId)) };
};

/** The {id} of /api/v2/silence/{id}, percent-decoded. */
function silenceId(path: string): string {
  const raw = path.slice("/api/v2/silence/".length);
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalid({ field: "id", message: `is not a valid percent-encoded silence id: ${quote(raw)}` });
  }
}

/** GET/DELETE /api/v2/silence/{id}: only the organization's; another organization's silence is "not found". */
function oneSilence(verb: "get" | "delete"): Route {
  return async (req, { am, auth }) => {
    onlyParams(req.query, ["org_id"]);
    const id = silenceId(req.path);
    const caller = await resolveCaller(auth, req.authorization, req.query.get("org_id") ?? undefined, "alerts/silences", verb);
    const s = await am.silence(id);
    if (!s || !ownSilence(s, caller.orgId)) throw notFound("Silence", id);
    if (verb === "get") return { json: s };
    await am.deleteSilence(id);
    return { json: null };
  };
}

/**
 * POST /api/v2/silences: the silence gets org_id="<caller's organization>" if it has no org_id matcher; any other
 * org_id matcher is refused. Replacing a silence (id set) needs it to be the organization's. createdBy is the
 * authenticated user, whatever the body says (who silenced what is then true).
 */
const postSilence: Route = async (req, { am, auth }) => {
  onlyParams(req.query, ["org_id"]);
  const silence = parseSilence(await req.body());
  const fromBody = silenceOrg(silence);
  const fromParam = req.query.get("org_id") ?? undefined;
  if (fromBody !== undefined && fromParam !== undefined && fromBody !== fromParam) {
    throw forbidden("the silence's org_id matcher and the org_id parameter name different organizations");
  }
  const caller = await resolveCaller(auth, req.authorization, fromBody ?? fromParam, "alerts/silences", "create");
  const scoped = scopedSilence(silence, caller.orgId);
  if (scoped.id) {
    const old = await am.silence(scoped.id);
    if (!old || !ownSilence(old, caller.orgId)) throw notFound("Silence", scoped.id);
  }
  return { json: await am.postSilence({ ...scoped, createdBy: caller.user.username }) };
};

const ROUTES: Record<string, Record<string, Route>> = {
  "/api/v2/alerts": { GET: readAlerts(false) },
  "/api/v2/alerts/groups": { GET: readAlerts(true) },
  "/api/v2/silences": { GET: listSilences, POST: postSilence },
  "/api/v2/silence/{id}": { GET: oneSilence("get"), DELETE: oneSilence("delete") },
};

/** The route for a method and path; undefined: not served (404), a string: the methods the path takes (405). */
export function routeOf(method: string, path: string): Route | string | undefined {
  const byMethod = ROUTES[/^\/api\/v2\/silence\/[^/]+$/.test(path) ? "/api/v2/silence/{id}" : path];
  if (!byMethod) return undefined;
  return Object.hasOwn(byMethod, method) ? byMethod[method] : Object.keys(byMethod).join(", ");
}
