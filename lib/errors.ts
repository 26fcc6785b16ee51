// Domain errors: what services and stores throw (and what the codec throws in the CLI). They carry a kind, never a
// transport code; the single mapping to Connect codes is the server's (server/platform/errors.ts, toConnectError).
import { quote } from "./quote.js";

/** The reasons a domain operation can fail, independent of any transport. */
export type ErrorKind =
  | "invalid" // bad input: names the field path
  | "notFound"
  | "alreadyExists"
  | "conflict" // stale resourceVersion or a concurrent write lost the compare-and-swap
  | "precondition" // the request is well-formed but the resource's state forbids it (owned, decommissioned, ...)
  | "unauthenticated"
  | "forbidden"
  | "unavailable"
  | "busy" // too much work in flight: retry later
  | "unimplemented"
  | "internal";

/** One problem with one field of the input, e.g. {field: "spec.os.image", message: "must not be empty"}. */
export interface FieldViolation {
  field: string;
  message: string;
}

/** A failed domain operation: its kind, a human-readable message and, for invalid input, the field violations. */
export class DomainError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly violations: FieldViolation[] = [],
  ) {
    super(message);
    this.name = "DomainError";
  }
}

/** Field violations as one line for people: "field: message; field: message" (a violation naming no field: its message). */
export function violationsText(violations: FieldViolation[]): string {
  return violations.map((v) => (v.field ? `${v.field}: ${v.message}` : v.message)).join("; ");
}

/** Invalid input: one or more field violations, rendered as "field: message; field: message". */
export function invalid(violations: FieldViolation[] | FieldViolation): DomainError {
  const list = Array.isArray(violations) ? violations : [violations];
  return new DomainError("invalid", violationsText(list), list);
}

/** The named resource does not exist. */
export const notFound = (kind: string, name: string) => new DomainError("notFound", `${kind} ${quote(name)} not found`);
/** A resource with that name exists already. */
export const alreadyExists = (kind: string, name: string) => new DomainError("alreadyExists", `${kind} ${quote(name)} already exists`);
/** A stale resourceVersion, or a concurrent write won. */
export const conflict = (message: string) => new DomainError("conflict", message);
/** The resource's state forbids the request. */
export const precondition = (message: string) => new DomainError("precondition", message);
/** No (valid) credentials. */
export const unauthenticated = (message: string) => new DomainError("unauthenticated", message);
/** Credentials that do not allow the request. */
export const forbidden = (message: string) => new DomainError("forbidden", message);
/** A dependency is down; retry later. */
export const unavailable = (message: string) => new DomainError("unavailable", message);
/** Too much work in flight; retry later. */
export const busy = (message: string) => new DomainError("busy", message);
