// How an error is written to the log (the `err` serializer of every logger): what an operator needs (type, message,
// SQLSTATE, constraint, stack with the function names) and never a statement's text or its parameter values. A failed
// drizzle query carries its SQL and parameters in its message, and Postgres's `detail`/`where` may quote the row's
// values: those can hold tokens, password hashes or keys.

type Plain = Record<string, unknown>;

/** Postgres error fields that name things, never values. */
const SAFE_PG_FIELDS = ["severity", "constraint", "table", "column", "schema", "dataType", "routine"] as const;

/** Fields that can quote statements or values. */
const UNSAFE_FIELDS = new Set([
  "query",
  "params",
  "detail",
  "where",
  "hint",
  "internalQuery",
  "internalPosition",
  "position",
  "file",
  "line",
]);

const MAX_MESSAGE = 300;

const isSqlState = (code: unknown): code is string => typeof code === "string" && /^[0-9A-Z]{5}$/.test(code);

/** A drizzle DrizzleQueryError (or the like): the statement and its parameters ride in the message. */
const isQueryWrapper = (e: Plain) => typeof e.query === "string" && "params" in e;

/** A pg DatabaseError: an error the server sent, with its SQLSTATE. */
const isServerError = (e: Plain) => isSqlState(e.code) && typeof e.severity === "string";

/** The stack's frames without its first lines (they repeat the message). */
const framesOf = (stack: unknown) =>
  typeof stack === "string"
    ? stack
        .split("\n")
        .filter((l) => /^\s+at /.test(l))
        .join("\n")
    : undefined;

const clip = (s: string) => (s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE)}…` : s);

/** The loggable form of `err` (and of its causes), without statements or values. */
export function serializeError(err: unknown, depth = 0): unknown {
  if (typeof err !== "object" || err === null || depth > 8) return err;
  const e = err as Plain;
  const type = (err as object).constructor?.name ?? "Object";
  const out: Plain = { type };
  if (isQueryWrapper(e)) {
    out.message = "database query failed";
    out.stack = framesOf(e.stack);
  } else if (isServerError(e)) {
    out.message = clip(String(e.message));
    out.sqlState = e.code;
    for (const f of SAFE_PG_FIELDS) if (e[f] !== undefined) out[f] = e[f];
    out.stack = framesOf(e.stack);
  } else {
    out.message = typeof e.message === "string" ? clip(e.message) : undefined;
    out.stack = e.stack;
    for (const [k, v] of Object.entries(e)) if (!(k in out) && k !== "cause" && !UNSAFE_FIELDS.has(k)) out[k] = v;
  }
  const cause = e.cause;
  if (cause !== undefined) {
    out.cause = serializeError(cause, depth + 1);
    // The SQLSTATE at the top of the line, where an operator looks first.
    const inner = (out.cause as Plain | undefined)?.sqlState;
    if (out.sqlState === undefined && inner !== undefined) out.sqlState = inner;
  }
  if (Array.isArray(e.errors)) out.errors = e.errors.map((x) => serializeError(x, depth + 1));
  return out;
}
