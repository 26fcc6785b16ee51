// The one classification of errors from Postgres and its driver (pg, pg-pool, drizzle's DrizzleQueryError wrapper):
// which mean "the database is unreachable right now" (the caller may retry: Unavailable) and which only bad input can
// cause (InvalidArgument, a backstop behind the boundary's validation). Everything else stays an internal error.

/** What a database error means to the caller. */
export type PgErrorClass = "unavailable" | "invalid";

/** SQLSTATEs only bad input can cause, with what the caller is told (no value is quoted back). */
const INVALID_INPUT: Record<string, string> = {
  "22021": "a string contains a NUL byte or is not valid UTF-8",
  "22P05": "a string contains a character the database cannot store",
  "54000": "a value is too large",
  "22001": "a string is too long",
};

/** SQLSTATEs of a lost or refused connection: class 08, and the server shutting down or starting up. */
const CONNECTION_STATES = new Set(["57P01", "57P02", "57P03"]);

/** Node socket errors of a lost, refused or hanging connection. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/** pg's and pg-pool's own messages for a connection that died, never came, or could not be had in time. */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /^Client has encountered a connection error and is not queryable/,
  /^Client was closed and is not queryable/,
  /^timeout exceeded when trying to connect/,
  /^Connection terminated due to connection timeout/,
  /^terminating connection due to administrator command/,
];

/** The error and its causes, outermost first (drizzle wraps the driver's error in `cause`). */
export function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 8; e = (e as { cause?: unknown }).cause) {
    chain.push(e);
    if (typeof e !== "object") break;
  }
  return chain;
}

const isSqlState = (code: unknown): code is string => typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);

/** The Postgres SQLSTATE anywhere in the chain (undefined for driver and socket errors). */
export function sqlState(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown })?.code;
    if (isSqlState(code)) return code;
  }
  return undefined;
}

/** Whether `err` means the connection was lost, refused or not had in time (not a problem of the statement). */
export function isConnectionError(err: unknown): boolean {
  for (const e of causes(err)) {
    if (typeof e !== "object" || e === null) continue;
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (code.startsWith("08") || CONNECTION_STATES.has(code) || SOCKET_CODES.has(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && CONNECTION_MESSAGES.some((re) => re.test(message))) return true;
    // AggregateError (e.g. every address of a host refused): any member counts.
    const members = (e as { errors?: unknown }).errors;
    if (Array.isArray(members) && members.some(isConnectionError)) return true;
  }
  return false;
}

/**
 * Whether `err` says no connection could be had at all (refused, or not within the pool's timeout), as opposed to one
 * lost while in use: running the statement again at once would only wait for the same outcome.
 */
export function isConnectFailure(err: unknown): boolean {
  return causes(err).some((e) => {
    if (typeof e !== "object" || e === null) return false;
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (code === "ECONNREFUSED" || code === "57P03") return true;
    return (
      typeof message === "string" &&
      /^(timeout exceeded when trying to connect|Connection terminated due to connection timeout)/.test(message)
    );
  });
}

/** The class of a database error, with the message the caller gets; undefined: not one we classify (internal). */
export function classifyPgError(err: unknown): { class: PgErrorClass; message: string } | undefined {
  if (isConnectionError(err)) return { class: "unavailable", message: "the database is unavailable; retry" };
  const state = sqlState(err);
  if (state && INVALID_INPUT[state]) return { class: "invalid", message: `invalid argument: ${INVALID_INPUT[state]}` };
  return undefined;
}

/**
 * Whether a statement run on its own (autocommit) only reads, so running it again after a lost connection cannot
 * change anything twice: a plain SELECT that calls none of the functions with side effects.
 */
export function isReadOnlyStatement(text: string): boolean {
  const body = text.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, "");
  if (!/^select\b/i.test(body)) return false;
  return !/\b(nextval|setval|pg_notify|pg_advisory\w*|pg_try_advisory\w*|set_config|pg_terminate_backend|pg_cancel_backend|add_job|add_jobs|force_unlock_workers|complete_jobs|fail_jobs|get_job)\s*\(/i.test(
    body,
  );
}
