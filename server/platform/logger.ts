// The server's loggers: lib/logger.ts at LOG_LEVEL (default info) unless the caller passes a level. The environment
// read goes once server/main passes the configured level everywhere (the config module).
import { createLogger as createLibLogger, type Logger } from "../../lib/logger.js";

export type { Logger };

/** A logger for a server process or component. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return createLibLogger(name, level);
}
