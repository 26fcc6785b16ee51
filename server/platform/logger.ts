// Structured JSON logs to stdout (pino); LOG_LEVEL picks the level (default info).
import pino, { type Logger } from "pino";

export type { Logger };

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({ name, level });
}
