// The console relay carries a session's traffic between the replica holding the user's stream and the replica
// holding the device's, which may be different processes. With Redis (FLIGHTCTL_REDIS_URL) each direction of a
// session is a Redis stream (`flightctl:console:<session>:in` user→device, `…:out` device→user): ordered, buffered
// until the other side reads (input typed before the device connects is kept), trimmed as it is read and expired
// after the session. New sessions are announced on pub/sub channel `flightctl:console:pending` so the replica that
// holds the device's rendered-spec stream can tell the agent. Without Redis the same interface is in-process (one
// API replica: the embedded default).
import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { unavailable } from "../platform/errors.js";

/** "in": user → device; "out": device → user. */
export type Direction = "in" | "out";

/** A new session, announced to every replica so the device's stream can carry it. */
export interface PendingConsole {
  orgId: string;
  device: string;
  sessionId: string;
  /** ConsoleSessionMetadata as JSON text (flightctl's DeviceConsole.sessionMetadata). */
  metadata: string;
}

export interface ConsoleRelay {
  /** Fails with Unavailable when the relay cannot be used now (Redis unreachable). */
  check(): Promise<void>;
  /** Appends entries to one direction of a session, in order. */
  send(sessionId: string, dir: Direction, entries: Uint8Array[]): Promise<void>;
  /**
   * Reads one direction of a session from its first entry, in order. `onEntries` is awaited before reading on
   * (backpressure); `onError` is called once if the relay fails. Returns how to stop reading.
   */
  read(sessionId: string, dir: Direction, onEntries: (entries: Uint8Array[]) => Promise<void>, onError: (err: unknown) => void): () => void;
  /** The session is over: its buffers go away after a grace period (late readers still see the close). */
  expire(sessionId: string): void;
  announce(p: PendingConsole): Promise<void>;
  onAnnounce(listener: (p: PendingConsole) => void): () => void;
  close(): Promise<void>;
}

/** How long a closed session's buffers are kept for a reader that has not seen the close yet. */
const GRACE_MS = 60_000;

export function memoryRelay(): ConsoleRelay {
  const channels = new Map<string, { entries: Uint8Array[]; wake?: () => void }>();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const channel = (key: string) => {
    let c = channels.get(key);
    if (!c) channels.set(key, (c = { entries: [] }));
    return c;
  };
  return {
    check: async () => {},
    async send(sessionId, dir, entries) {
      const c = channel(`${sessionId}:${dir}`);
      c.entries.push(...entries);
      c.wake?.();
    },
    read(sessionId, dir, onEntries) {
      const c = channel(`${sessionId}:${dir}`);
      let stopped = false;
      void (async () => {
        while (!stopped) {
          if (c.entries.length === 0) {
            await new Promise<void>((resolve) => (c.wake = resolve));
            c.wake = undefined;
            continue;
          }
          await onEntries(c.entries.splice(0));
        }
      })();
      return () => {
        stopped = true;
        c.wake?.();
      };
    },
    expire(sessionId) {
      setTimeout(() => {
        channels.delete(`${sessionId}:in`);
        channels.delete(`${sessionId}:out`);
      }, GRACE_MS).unref();
    },
    announce: async (p) => void events.emit("pending", p),
    onAnnounce(listener) {
      events.on("pending", listener);
      return () => events.off("pending", listener);
    },
    close: async () => void channels.clear(),
  };
}

const PENDING_CHANNEL = "flightctl:console:pending";
/** Redis keys of console session streams start with this (flightctl-restore drops them with the sessions they carried). */
export const CONSOLE_KEY_PREFIX = "flightctl:console:";
const key = (sessionId: string, dir: Direction) => `${CONSOLE_KEY_PREFIX}${sessionId}:${dir}`;

/** Redis errors become Unavailable with a message that says what is down. */
function relayDown(err: unknown): Error {
  return unavailable(`console relay unavailable: cannot reach Redis (${(err as Error)?.message ?? err})`);
}

export function redisRelay(url: string, log: Logger, opts: { sessionTtlMs: number }): ConsoleRelay {
  // Fail fast rather than queue: a console whose relay is down must say so at once, while the rest of the API,
  // which does not need Redis, keeps serving.
  const options = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (n: number) => Math.min(200 * n, 2000),
  };
  let warned = 0;
  const onError = (err: Error) => {
    // ioredis retries forever; log a lost Redis once a minute, not on every attempt.
    if (Date.now() - warned > 60_000) {
      warned = Date.now();
      log.warn({ err: err.message }, "console relay: Redis connection failed");
    }
  };
  const client = new Redis(url, options);
  client.on("error", onError);
  let sub: Redis | undefined;
  const listeners = new Set<(p: PendingConsole) => void>();
  const readers = new Set<Redis>();

  /** Waits briefly for a connection being (re)established before calling Redis down. */
  async function ready() {
    if (client.status === "ready") return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => (client.off("ready", ok), reject(new Error(`connection ${client.status}`))), 1000);
      const ok = () => (clearTimeout(t), resolve());
      client.once("ready", ok);
    }).catch((e) => {
      throw relayDown(e);
    });
  }

  return {
    async check() {
      await ready();
      await client.ping().catch((e) => {
        throw relayDown(e);
      });
    },
    async send(sessionId, dir, entries) {
      const k = key(sessionId, dir);
      const p = client.pipeline();
      for (const e of entries) p.xadd(k, "*", "e", Buffer.from(e.buffer, e.byteOffset, e.byteLength));
      p.pexpire(k, opts.sessionTtlMs);
      const results = await p.exec().catch((e) => {
        throw relayDown(e);
      });
      const failed = results?.find(([err]) => err);
      if (failed) throw relayDown(failed[0]);
    },
    read(sessionId, dir, onEntries, onErr) {
      const k = key(sessionId, dir);
      // A blocking read holds its connection, so each reader has its own.
      const conn = client.duplicate({ ...options, lazyConnect: true });
      conn.on("error", () => {});
      readers.add(conn);
      let stopped = false;
      void (async () => {
        try {
          await conn.connect();
          let last = "0-0";
          while (!stopped) {
            const res = (await conn.xreadBuffer("COUNT", 512, "BLOCK", 5000, "STREAMS", k, last)) as
              | [Buffer, [Buffer, Buffer[]][]][]
              | null;
            if (stopped) break;
            if (!res) continue;
            const batch = res[0][1];
            last = batch[batch.length - 1][0].toString();
            // Entries read are not needed again: trim them (in the background) so long sessions stay small.
            client.xtrim(k, "MINID", last).catch(() => {});
            await onEntries(batch.map(([, fields]) => fields[1]));
          }
        } catch (e) {
          if (!stopped) onErr(relayDown(e));
        } finally {
          readers.delete(conn);
          conn.disconnect();
        }
      })();
      return () => {
        stopped = true;
        conn.disconnect();
      };
    },
    expire(sessionId) {
      client.pexpire(key(sessionId, "in"), GRACE_MS).catch(() => {});
      client.pexpire(key(sessionId, "out"), GRACE_MS).catch(() => {});
    },
    async announce(p) {
      await ready();
      await client.publish(PENDING_CHANNEL, JSON.stringify(p)).catch((e) => {
        throw relayDown(e);
      });
    },
    onAnnounce(listener) {
      if (!sub) {
        // ioredis subscribes again by itself after a reconnect.
        sub = client.duplicate({ ...options, enableOfflineQueue: true });
        sub.on("error", onError);
        sub.subscribe(PENDING_CHANNEL).catch((e) => log.warn({ err: e.message }, "console relay: cannot subscribe"));
        sub.on("message", (_channel: string, message: string) => {
          let p: PendingConsole;
          try {
            p = JSON.parse(message) as PendingConsole;
          } catch {
            return;
          }
          for (const l of listeners) l(p);
        });
      }
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      for (const r of readers) r.disconnect();
      sub?.disconnect();
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/** Redis when `url` is set, else in-process. */
export function createConsoleRelay(url: string | undefined, log: Logger, sessionTtlMs: number): ConsoleRelay {
  return url ? redisRelay(url, log, { sessionTtlMs }) : memoryRelay();
}
