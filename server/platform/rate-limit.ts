// Fixed-window request limits by key (a client IP, a user, a device certificate), in this process's memory
// (rate-limiter-flexible's RateLimiterMemory): each API replica counts on its own, so a fleet behind N replicas may
// send up to N times a limit. That bounds what one client can make one process do, which is the point; a shared
// count (Redis) would add a round trip to every call for little gain.
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";

/** At most `points` requests per `durationSec` seconds per key. */
export interface RateLimit {
  points: number;
  durationSec: number;
}

export interface Limiter {
  /** Counts one request for `key`: undefined when allowed, else the milliseconds until the key may try again. */
  take(key: string): Promise<number | undefined>;
}

/** A limiter for `limit`; none (or zero points) allows everything. */
export function createLimiter(limit: RateLimit | undefined): Limiter {
  if (!limit || limit.points <= 0) return { take: async () => undefined };
  const rl = new RateLimiterMemory({ points: limit.points, duration: limit.durationSec });
  return {
    async take(key) {
      try {
        await rl.consume(key);
        return undefined;
      } catch (res) {
        if (res instanceof RateLimiterRes) return Math.max(1, res.msBeforeNext);
        throw res;
      }
    },
  };
}

/** Failed logins per user name before a lockout, and how the lockout grows. */
export interface LoginLockout {
  /** Failures allowed within `windowSec` (0: no lockout). */
  maxFailures: number;
  windowSec: number;
  /** The first lockout; each further one within a day doubles it, up to `lockoutMaxSec`. */
  lockoutSec: number;
  lockoutMaxSec: number;
}

export interface LoginThrottle {
  /**
   * Counts a login attempt before its password is checked, so a burst of parallel guesses cannot get more than
   * `maxFailures` checked. Undefined: go on. Otherwise the name is locked out for `ms`; `started` when this attempt
   * started the lockout.
   */
  attempt(username: string): Promise<{ ms: number; started: boolean } | undefined>;
  /** A successful login clears the name's attempts (not its lockout history). */
  succeeded(username: string): Promise<void>;
}

/**
 * Login attempts counted per user name, whether or not the user exists: a name that does not exist is locked out
 * exactly like one that does, so the answers never tell them apart. A lockout follows the attempt after
 * `maxFailures` failures within `windowSec`; each further lockout of the name within a day doubles it.
 */
export function createLoginThrottle(cfg: LoginLockout): LoginThrottle {
  if (cfg.maxFailures <= 0) return { attempt: async () => undefined, succeeded: async () => {} };
  const attempts = new RateLimiterMemory({ points: cfg.maxFailures, duration: cfg.windowSec });
  const lockouts = new RateLimiterMemory({ points: Number.MAX_SAFE_INTEGER, duration: 24 * 3600 });
  return {
    async attempt(username) {
      let refused: RateLimiterRes;
      try {
        await attempts.consume(username);
        return undefined;
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
        refused = res;
      }
      // The first refusal after the allowed failures starts a lockout; later ones fall within it.
      if (refused.consumedPoints !== cfg.maxFailures + 1) return { ms: Math.max(1, refused.msBeforeNext), started: false };
      const n = (await lockouts.consume(username)).consumedPoints;
      const sec = Math.min(cfg.lockoutSec * 2 ** Math.min(n - 1, 30), cfg.lockoutMaxSec);
      await attempts.block(username, sec);
      return { ms: sec * 1000, started: true };
    },
    async succeeded(username) {
      await attempts.delete(username);
    },
  };
}
