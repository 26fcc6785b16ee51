// Limits of remote console sessions (docs/console.md): server/config.ts reads them from FLIGHTCTL_CONSOLE_*.

/** How many sessions, for how long, how much recorded. */
export interface ConsoleLimits {
  /** Open sessions per device. */
  maxSessionsPerDevice: number;
  /** How long the device has to connect to a new session. */
  attachTimeoutMs: number;
  /** A session without traffic either way ends after this. */
  idleTimeoutMs: number;
  /** No session lasts longer. */
  maxDurationMs: number;
  /** Recording size limit per session. */
  recordingMaxBytes: number;
}

/** The limits when none are configured. */
export const DEFAULT_CONSOLE_LIMITS: ConsoleLimits = {
  maxSessionsPerDevice: 4,
  attachTimeoutMs: 30_000,
  idleTimeoutMs: 1800_000,
  maxDurationMs: 8 * 3600_000,
  recordingMaxBytes: 32 * 1024 * 1024,
};
