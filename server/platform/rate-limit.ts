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
  /** Milliseconds the name is still locked out, or undefined. */
  lockedFor(username: string): Promise<number | undefined>;
  /** Records a failure; returns the lockout (ms) it started, if it started one. */
  failed(username: string): Promise<number | undefined>;
  /** A successful login clears the name's failures (not its lockout history). */
  succeeded(username: string): Promise<void>;
}

/**
 * Failed logins counted per user name, whether or not the user exists: a name that does not exist is locked out
 * exactly like one that does, so the answers never tell them apart.
 */
export function createLoginThrottle(cfg: LoginLockout): LoginThrottle {
  if (cfg.maxFailures <= 0) return { lockedFor: async () => undefined, failed: async () => undefined, succeeded: async () => {} };
  const failures = new RateLimiterMemory({ points: cfg.maxFailures, duration: cfg.windowSec });
  const lockouts = new RateLimiterMemory({ points: Number.MAX_SAFE_INTEGER, duration: 24 * 3600 });
  return {
    async lockedFor(username) {
      const r = await failures.get(username);
      return r && r.consumedPoints > cfg.maxFailures ? Math.max(1, r.msBeforeNext) : undefined;
    },
    async failed(username) {
      try {
        await failures.consume(username);
        return undefined;
      } catch (res) {
        if (!(res instanceof RateLimiterRes)) throw res;
      }
      const n = (await lockouts.consume(username)).consumedPoints;
      const sec = Math.min(cfg.lockoutSec * 2 ** Math.min(n - 1, 30), cfg.lockoutMaxSec);
      await failures.block(username, sec);
      return sec * 1000;
    },
    async succeeded(username) {
      await failures.delete(username);
    },
  };
}
