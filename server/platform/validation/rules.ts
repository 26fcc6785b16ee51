// Shared input rules (flightctl's validation, in our words): a collector for field violations and the format
// checks several kinds use. Validators read flightctl JSON and report JSON paths.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { FieldViolation } from "../errors.js";
import { childPath } from "../codec.js";
import { labelKeyProblem, labelValueProblem, subdomainProblem } from "./names.js";
import { quote } from "../../../lib/quote.js";
import { parseCron } from "../../../lib/cron.js";
import {
  isSchedule,
  parseSchedule,
  scheduleProblems as windowProblems,
  timeZoneProblem,
  type UpdateScheduleJson,
} from "../../../lib/schedule.js";

/** Collects violations while validators walk a document. */
export class Violations {
  readonly list: FieldViolation[] = [];
  add(field: string, message: string): void {
    this.list.push({ field, message });
  }
  /** Records `problem` (when defined) at `field`. */
  check(field: string, problem: string | undefined): void {
    if (problem) this.add(field, problem);
  }
}

export { childPath };

export const isObject = (v: JsonValue | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);
export const asObject = (v: JsonValue | undefined): JsonObject => (isObject(v) ? v : {});
export const asArray = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : []);
export const asString = (v: JsonValue | undefined): string | undefined => (typeof v === "string" ? v : undefined);

/** A required non-empty string; returns it when present. */
export function required(v: Violations, obj: JsonObject, key: string, path: string): string | undefined {
  const s = asString(obj[key]);
  if (s === undefined || s === "") v.add(childPath(path, key), "is required");
  return s || undefined;
}

/** Fields that must be absent (e.g. fields of another type in a union). */
export function forbidden(v: Violations, obj: JsonObject, keys: string[], path: string, why: string): void {
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) v.add(childPath(path, k), `is not allowed ${why}`);
}

export function oneOf(value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value === undefined || allowed.includes(value)) return undefined;
  return `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${quote(value)}`;
}

export function validateLabels(v: Violations, labels: JsonValue | undefined, path: string): void {
  for (const [key, value] of Object.entries(asObject(labels))) {
    const p = childPath(path, key);
    const kp = labelKeyProblem(key);
    if (kp) v.add(p, `invalid key: ${kp}`);
    if (typeof value !== "string") v.add(p, "value must be a string");
    else v.check(p, labelValueProblem(value) && `invalid value "${value}": ${labelValueProblem(value)}`);
  }
}

/** metadata: name required and a DNS-1123 subdomain; labels valid. */
export function validateObjectMeta(meta: JsonValue | undefined, path = "metadata"): FieldViolation[] {
  const v = new Violations();
  const m = asObject(meta);
  const name = asString(m.name);
  if (!name) v.add(childPath(path, "name"), "is required");
  else v.check(childPath(path, "name"), subdomainProblem(name));
  validateLabels(v, m.labels, childPath(path, "labels"));
  return v.list;
}

// --- formats ---------------------------------------------------------------------------------------------------

/** Durations like "30s", "10m", "2h" (flightctl's sampling intervals and alert durations). */
export const simpleDuration = /^\d+[smh]$/;
const goDuration = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
export const durationSeconds = (d: string): number => Number(d.slice(0, -1)) * { s: 1, m: 60, h: 3600 }[d.slice(-1) as "s" | "m" | "h"];

export function goDurationProblem(d: string): string | undefined {
  return d === "0" || goDuration.test(d) ? undefined : `must be a duration like "30s", "10m" or "1h30m", got ${quote(d)}`;
}

export function percentageProblem(p: string): string | undefined {
  return /^(100|[1-9]?[0-9])%$/.test(p) ? undefined : `must be a whole percentage from 0% to 100%, e.g. "20%", got ${quote(p)}`;
}

/** Standard 5-field cron: minute hour day-of-month month day-of-week; * - , / allowed (lib/cron.ts, shared with the agent). */
export function cronProblem(expr: string): string | undefined {
  const c = parseCron(expr);
  return typeof c === "string" ? c : undefined;
}

export { timeZoneProblem };

/**
 * What a well-formed schedule may still get wrong, by field (at, startGraceDuration): it never fires (February 30th),
 * or its grace is longer than the time between fires. Empty when the format itself is wrong (reported per field).
 */
export function scheduleProblems(s: UpdateScheduleJson, now = Date.now()): Record<string, string> {
  const parsed = parseSchedule(s);
  return isSchedule(parsed) ? windowProblems(parsed, now) : {};
}

const base64 = /^[A-Za-z0-9+/]*={0,2}$/;
export function base64Problem(s: string): string | undefined {
  const compact = s.replace(/\s+/g, "");
  return compact.length % 4 === 0 && base64.test(compact) ? undefined : "must be valid base64";
}

/** Device paths the agent owns; configuration must never overwrite them. */
const forbiddenDevicePaths = [
  /^\/var\/lib\/flightctl(\/|$)/,
  /^\/usr\/lib\/flightctl(\/|$)/,
  /^\/etc\/flightctl\/certs(\/|$)/,
  /^\/etc\/flightctl\/config\.ya?ml$/,
];

export function absolutePathProblem(p: string): string | undefined {
  if (!p.startsWith("/")) return `must be an absolute path, got ${quote(p)}`;
  if (p.includes(":")) return "must not contain ':'";
  if (p.split("/").some((seg) => seg === "..")) return "must not contain '..'";
  return undefined;
}

export function devicePathProblem(p: string): string | undefined {
  const abs = absolutePathProblem(p);
  if (abs) return abs;
  const normalized = p.replace(/\/+/g, "/").replace(/\/\.(?=\/|$)/g, "");
  if (forbiddenDevicePaths.some((re) => re.test(normalized))) return `must not be inside the agent's own files (${p})`;
  return undefined;
}

export function relativePathProblem(p: string): string | undefined {
  if (p === "") return "must not be empty";
  if (p.startsWith("/")) return `must be a relative path, got ${quote(p)}`;
  if (p.split("/").some((seg) => seg === "..")) return "must not contain '..'";
  if (p.length > 253) return "must be at most 253 characters";
  return undefined;
}

const ociRef =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$/;

/** OCI image reference; in fleet templates `{{ … }}` placeholders stand for any valid part. */
export function imageRefProblem(ref: string, template: boolean): string | undefined {
  const candidate = template ? ref.replace(/\{\{.*?\}\}/g, "x") : ref;
  return ociRef.test(candidate) ? undefined : `must be an OCI image reference like "quay.io/org/image:tag", got ${quote(ref)}`;
}

export function registryHostProblem(host: string): string | undefined {
  return /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/.test(
    host,
  )
    ? undefined
    : `must be a registry host such as "quay.io" or "myregistry.local:5000", got ${quote(host)}`;
}

export function urlProblem(u: string, schemes: string[] = ["http:", "https:"]): string | undefined {
  if (u.length > 2048) return "must be at most 2048 characters";
  try {
    const url = new URL(u);
    return schemes.includes(url.protocol)
      ? undefined
      : `must use ${schemes.map((s) => s.slice(0, -1)).join(" or ")}, got ${quote(url.protocol.slice(0, -1))}`;
  } catch {
    return `must be an absolute URL, got ${quote(u)}`;
  }
}

/** User or group: a numeric id (not 65535) or a name of up to 32 characters. */
export function ownerProblem(s: string): string | undefined {
  if (/^\d+$/.test(s)) return Number(s) <= 4294967294 && Number(s) !== 65535 ? undefined : `is not a valid id: ${s}`;
  return /^[a-zA-Z0-9_][a-zA-Z0-9_-]{0,30}\$?$/.test(s) ? undefined : `must be a user/group name or numeric id, got ${quote(s)}`;
}

export const envVarName = /^[A-Za-z_][A-Za-z0-9_]*$/;
