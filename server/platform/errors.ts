// The server's side of the domain errors (lib/errors.ts): the one mapping to Connect codes and error details. The
// domain errors are re-exported so the server's modules keep importing them from here.
import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type ErrorKind } from "../../lib/errors.js";
import { badRequestDetail } from "../../lib/field-violations.js";

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
 * travel as a google.rpc.BadRequest detail (what clients read); anything else is an internal error whose details go
 * to the log, not to the caller.
 */
export function toConnectError(err: unknown, log?: (err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return undecodable(err) ?? err;
  if (err instanceof DomainError) {
    const details = err.violations.length > 0 ? [badRequestDetail(err.violations)] : [];
    return new ConnectError(err.message, codes[err.kind], undefined, details);
  }
  log?.(err);
  return new ConnectError("internal error", Code.Internal);
}

// What Connect reports as Internal although only the request can cause it: a body that is not the method's message
// (binary decoding, which also refuses invalid UTF-8 in strings), or a compressed body that does not decompress.
const UNDECODABLE = /^(parse binary: |decompression failed$|received compressed envelope, but do not know how to decompress)/;

/** The InvalidArgument a request-decoding failure of Connect's is, or undefined for any other error. */
export function undecodable(err: ConnectError): ConnectError | undefined {
  if (err.code !== Code.Internal || !UNDECODABLE.test(err.rawMessage)) return undefined;
  return new ConnectError(`cannot decode the request: ${err.rawMessage}`, Code.InvalidArgument);
}
