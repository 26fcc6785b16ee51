// Structured JSON logs to stdout (pino). The level is the caller's (its configuration), never read here.
import pino, { type Logger } from "pino";
import { serializeError } from "./log-errors.js";

export type { Logger };

/** A logger named after its process or component, at `level` (pino's names: "debug", "info", "warn", ...). */
export function createLogger(name: string, level = "info"): Logger {
  return pino({ name, level, serializers: { err: serializeError } });
}
