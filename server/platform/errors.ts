// Domain errors: what services and stores throw. They carry a kind, never a transport code; the single mapping to
// Connect codes lives in toConnectError below (and nowhere else).
import { Code, ConnectError } from "@connectrpc/connect";

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

/** Invalid input: one or more field violations, rendered as "field: message; field: message". */
export function invalid(violations: FieldViolation[] | FieldViolation): DomainError {
  const list = Array.isArray(violations) ? violations : [violations];
  return new DomainError("invalid", list.map((v) => (v.field ? `${v.field}: ${v.message}` : v.message)).join("; "), list);
}

export const notFound = (kind: string, name: string) => new DomainError("notFound", `${kind} "${name}" not found`);
export const alreadyExists = (kind: string, name: string) => new DomainError("alreadyExists", `${kind} "${name}" already exists`);
export const conflict = (message: string) => new DomainError("conflict", message);
export const precondition = (message: string) => new DomainError("precondition", message);
export const unauthenticated = (message: string) => new DomainError("unauthenticated", message);
export const forbidden = (message: string) => new DomainError("forbidden", message);
export const unavailable = (message: string) => new DomainError("unavailable", message);
export const busy = (message: string) => new DomainError("busy", message);

const codes: Record<ErrorKind, Code> = {
  invalid: Code.InvalidArgument,
  notFound: Code.NotFound,
  alreadyExists: Code.AlreadyExists,
  conflict: Code.Aborted,
  precondition: Code.FailedPrecondition,
  unauthenticated: Code.Unauthenticated,
  forbidden: Code.PermissionDenied,
  unavailable: Code.Unavailable,
  busy: Code.ResourceExhausted,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

/**
 * The one place where errors become Connect errors. Domain errors keep their message; anything else is an
 * internal error whose details go to the log, not to the caller.
 */
export function toConnectError(err: unknown, log?: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) return new ConnectError(err.message, codes[err.kind]);
  log?.(err);
  return new ConnectError("internal error", Code.Internal);
}
