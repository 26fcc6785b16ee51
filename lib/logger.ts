// Structured JSON logs to stdout (pino). The level is the caller's (its configuration), never read here.
import pino, { type Logger, type LoggerOptions } from "pino";
import { serializeError } from "./log-errors.js";

export type { Logger };

/** Every logger's options: errors are written without statements or values (log-errors.ts). */
export const loggerOptions = (name: string, level = "info"): LoggerOptions => ({ name, level, serializers: { err: serializeError } });

/** A logger named after its process or component, at `level` (pino's names: "debug", "info", "warn", ...). */
export function createLogger(name: string, level = "info"): Logger {
  return pino(loggerOptions(name, level));
}
