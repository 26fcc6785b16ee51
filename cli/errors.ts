// Errors a person can act on: what failed, on which resource, and what to do next. Every failure ends the
// process with exit code 1 and one message on stderr (no stack trace unless FLIGHTCTL_DEBUG is set).
import { Code, ConnectError } from "@connectrpc/connect";
import { violationsText } from "../lib/errors.js";
import { fieldViolations } from "../lib/field-violations.js";

/** A mistake in how the command was called or in its input; the message is shown as is. */
export class UsageError extends Error {}

/** Adds which resource (and what action) a failed call was about. */
export class ResourceError extends Error {
  constructor(
    readonly target: string,
    readonly cause: unknown,
  ) {
    super(`${target}: ${describe(cause)}`);
  }
}

const tlsHints = /self[- ]signed|unable to verify|unable to get local issuer|certificate|CERT_|DEPTH_ZERO/i;

/** One line (or a few) explaining an error, with a hint on how to fix it. */
export function describe(e: unknown): string {
  if (e instanceof ResourceError || e instanceof UsageError) return e.message;
  if (e instanceof ConnectError) {
    const msg = e.rawMessage;
    switch (e.code) {
      case Code.Unauthenticated:
        return `not authenticated (${msg}): log in with "flightctl login <server-url>" (or again, if the session expired)`;
      case Code.PermissionDenied:
        return `permission denied: ${msg}. Ask an administrator for a role that allows it, or pick another organization with --org / "flightctl config use-organization"`;
      case Code.NotFound:
        return `not found: ${msg}`;
      case Code.AlreadyExists:
        return `already exists: ${msg}`;
      case Code.Aborted:
        return `conflict: ${msg}. Someone changed it since it was read; fetch it again and retry your change`;
      case Code.FailedPrecondition:
        return `refused: ${msg}`;
      case Code.InvalidArgument:
        return `invalid: ${invalidText(e)}`;
      case Code.Unimplemented:
        return `the server does not support this (${msg}); it may be older than this client`;
      case Code.DeadlineExceeded:
        return `timed out (${msg}); raise --request-timeout or check the server`;
      case Code.Unavailable:
      case Code.Unknown:
      case Code.Internal: {
        const cause = e.cause instanceof Error ? e.cause.message : msg;
        if (tlsHints.test(cause))
          return `TLS error talking to the server: ${cause}. Pass the server's CA with --certificate-authority at login (or -k to skip verification, insecure)`;
        if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET/.test(cause))
          return `cannot reach the server: ${cause}. Check the URL given at login ("flightctl login <url>") and that the service is running`;
        return `${e.code === Code.Internal ? "server error" : "error"}: ${msg}`;
      }
      default:
        return msg;
    }
  }
  if (e instanceof Error) {
    if (tlsHints.test(e.message)) return `TLS error: ${e.message}. Pass the CA with --certificate-authority (or -k, insecure)`;
    return e.message;
  }
  return String(e);
}

/** What was invalid: the field violations of the error's details ("field: message; ..."), else its message. */
function invalidText(e: ConnectError): string {
  const violations = fieldViolations(e);
  return violations.length > 0 ? violationsText(violations) : e.rawMessage;
}

/** Prints the error and exits 1. */
export function fail(e: unknown): never {
  process.stderr.write(`Error: ${describe(e)}\n`);
  if (process.env.FLIGHTCTL_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(1);
}
