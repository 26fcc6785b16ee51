// The server's side of the domain errors (lib/errors.ts): the one mapping to Connect codes and error details. The
// domain errors are re-exported so the server's modules keep importing them from here.
import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type ErrorKind } from "../../lib/errors.js";
import { badRequestDetail } from "../../lib/field-violations.js";
import { classifyPgError } from "./pg-errors.js";

export * from "../../lib/errors.js";

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
 * The one place where errors become Connect errors. Domain errors keep their message, and their field violations
 * travel as a google.rpc.BadRequest detail (what clients read); database errors are classified by pg-errors.ts (a lost
 * connection is Unavailable); anything else is an internal error whose details go to the log, not to the caller.
 */
export function toConnectError(err: unknown, log?: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DomainError) {
    const details = err.violations.length > 0 ? [badRequestDetail(err.violations)] : [];
    return new ConnectError(err.message, codes[err.kind], undefined, details);
  }
  // A lost database connection (retryable) or a value the database refuses (a backstop behind input validation).
  const db = classifyPgError(err);
  if (db) return new ConnectError(db.message, db.class === "unavailable" ? Code.Unavailable : Code.InvalidArgument);
  log?.(err);
  return new ConnectError("internal error", Code.Internal);
}
