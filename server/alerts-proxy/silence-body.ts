// The body of POST /api/v2/silences, checked field by field so a malformed silence is refused with a 400 naming the
// field (Alertmanager's own answer to a bad body is terse), and so the organization rules see well-formed matchers.
import { invalid, type FieldViolation } from "../platform/errors.js";
import type { AmPostableSilence, AmSilenceMatcher } from "../alertmanager/alertmanager-client.js";
import { quote } from "../../lib/quote.js";

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const MAX_MATCHERS = 64;

function matcherOf(v: unknown, field: string, bad: FieldViolation[]): AmSilenceMatcher | undefined {
  if (!v || typeof v !== "object") {
    bad.push({ field, message: "must be an object {name, value, isRegex, isEqual}" });
    return undefined;
  }
  const m = v as Record<string, unknown>;
  if (typeof m.name !== "string" || !LABEL_NAME.test(m.name))
    bad.push({ field: `${field}.name`, message: `must be a label name, got ${quote(m.name)}` });
  if (typeof m.value !== "string") bad.push({ field: `${field}.value`, message: "must be a string" });
  if (typeof m.isRegex !== "boolean") bad.push({ field: `${field}.isRegex`, message: "must be true or false" });
  if (m.isEqual !== undefined && typeof m.isEqual !== "boolean") bad.push({ field: `${field}.isEqual`, message: "must be true or false" });
  if (m.isRegex === true && typeof m.value === "string") {
    try {
      new RegExp(`^(?:${m.value})$`);
    } catch (e) {
      bad.push({ field: `${field}.value`, message: `bad regular expression: ${(e as Error).message}` });
    }
  }
  return {
    name: m.name as string,
    value: m.value as string,
    isRegex: m.isRegex as boolean,
    isEqual: (m.isEqual as boolean | undefined) ?? true,
  };
}

const isTime = (v: unknown) => typeof v === "string" && !Number.isNaN(Date.parse(v));

/** The silence in `body` (parsed JSON); invalid naming every bad field otherwise. */
export function parseSilence(body: unknown): AmPostableSilence {
  if (!body || typeof body !== "object" || Array.isArray(body))
    throw invalid({ field: "", message: "the body must be a JSON silence object" });
  const s = body as Record<string, unknown>;
  const bad: FieldViolation[] = [];
  if (s.id !== undefined && typeof s.id !== "string") bad.push({ field: "id", message: "must be a string" });
  const matchers: AmSilenceMatcher[] = [];
  if (!Array.isArray(s.matchers) || s.matchers.length === 0) bad.push({ field: "matchers", message: "must be a non-empty list" });
  else if (s.matchers.length > MAX_MATCHERS) bad.push({ field: "matchers", message: `must have at most ${MAX_MATCHERS} matchers` });
  else
    s.matchers.forEach((m, i) => {
      const checked = matcherOf(m, `matchers[${i}]`, bad);
      if (checked) matchers.push(checked);
    });
  if (!isTime(s.startsAt)) bad.push({ field: "startsAt", message: "must be an RFC 3339 time" });
  if (!isTime(s.endsAt)) bad.push({ field: "endsAt", message: "must be an RFC 3339 time" });
  if (isTime(s.startsAt) && isTime(s.endsAt) && Date.parse(s.endsAt as string) <= Date.parse(s.startsAt as string)) {
    bad.push({ field: "endsAt", message: "must be after startsAt" });
  }
  if (s.comment !== undefined && typeof s.comment !== "string") bad.push({ field: "comment", message: "must be a string" });
  if (s.createdBy !== undefined && typeof s.createdBy !== "string") bad.push({ field: "createdBy", message: "must be a string" });
  if (bad.length > 0) throw invalid(bad);
  return {
    ...(s.id ? { id: s.id as string } : {}),
    matchers,
    startsAt: s.startsAt as string,
    endsAt: s.endsAt as string,
    createdBy: (s.createdBy as string | undefined) ?? "",
    comment: (s.comment as string | undefined) ?? "",
  };
}
