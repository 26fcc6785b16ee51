// The server's side of the domain errors (lib/errors.ts): the one mapping to Connect codes and error details. The
// domain errors are re-exported so the server's modules keep importing them from here.
import { Code, ConnectError } from "@connectrpc/connect";
import { DomainError, type ErrorKind } from "../../lib/errors.js";
import { badRequestDetail } from "../../lib/field-violations.js";
import { RetryInfoSchema } from "../../gen/third_party/google/rpc/error_details_pb.js";
import { classifyPgError } from "./pg-errors.js";
import { truncate } from "../../lib/quote.js";

export * from "../../lib/errors.js";

/** Refused by a rate limit: ResourceExhausted with a google.rpc.RetryInfo detail saying when to try again. */
export class RateLimitedError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super("busy", message);
  }
}

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
  if (err instanceof ConnectError) return undecodable(err) ?? err;
  if (err instanceof RateLimitedError) return rateLimitedError(err);
  if (err instanceof DomainError) {
    // A backstop behind quote(): whatever a message embeds, it never echoes more than MAX_MESSAGE characters back.
    const violations = err.violations.map((v) => ({ field: truncate(v.field, MAX_MESSAGE), message: truncate(v.message, MAX_MESSAGE) }));
    const details = violations.length > 0 ? [badRequestDetail(violations)] : [];
    return new ConnectError(truncate(err.message, MAX_MESSAGE), codes[err.kind], undefined, details);
  }
  // A lost database connection (retryable) or a value the database refuses (a backstop behind input validation).
  const db = classifyPgError(err);
  if (db) return new ConnectError(db.message, db.class === "unavailable" ? Code.Unavailable : Code.InvalidArgument);
  log?.(err);
  return new ConnectError("internal error", Code.Internal);
}

/** A rate limit refused the call; retry after `retryAfterMs`. */
export const rateLimited = (message: string, retryAfterMs: number) => new RateLimitedError(message, retryAfterMs);

function rateLimitedError(err: RateLimitedError): ConnectError {
  const ms = Math.max(0, Math.ceil(err.retryAfterMs));
  const retryDelay = { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
  // Retry-After too, for HTTP clients that read headers rather than details (whole seconds, rounded up).
  const headers = { "retry-after": String(Math.ceil(ms / 1000)) };
  return new ConnectError(err.message, Code.ResourceExhausted, headers, [{ desc: RetryInfoSchema, value: { retryDelay } }]);
}

// What Connect reports as Internal although only the request can cause it: a body that is not the method's message
// (binary decoding, which also refuses invalid UTF-8 in strings), or a compressed body that does not decompress; and
// as Unimplemented, a unary or server-stream call sent no request message, or more than one.
const UNDECODABLE = /^(parse binary: |decompression failed$|received compressed envelope, but do not know how to decompress)/;
const NOT_ONE_MESSAGE = /^protocol error: (missing|received extra) input message/;
/** Messages may quote the input (an unknown JSON key, a value in a rule's message): at most this much of them. */
const MAX_MESSAGE = 1000;

/**
 * What an error Connect raised itself while reading the request should say instead, or undefined when it may stand:
 * decoding failures reported as Internal become InvalidArgument, and an overlong message is cut.
 */
export function undecodable(err: ConnectError): ConnectError | undefined {
  const decode =
    (err.code === Code.Internal && UNDECODABLE.test(err.rawMessage)) ||
    (err.code === Code.Unimplemented && NOT_ONE_MESSAGE.test(err.rawMessage));
  if (!decode && err.rawMessage.length <= MAX_MESSAGE) return undefined;
  const message = decode ? `cannot decode the request: ${err.rawMessage}` : err.rawMessage;
  const out = new ConnectError(truncate(message, MAX_MESSAGE), decode ? Code.InvalidArgument : err.code, err.metadata);
  out.details.push(...err.details); // both kinds (outgoing, or decoded from a peer) serialize alike
  return out;
}
