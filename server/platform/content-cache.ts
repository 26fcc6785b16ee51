// Content frozen per template version (external config fetched once, then reused by every device and every later
// render of that version). In-process by default; with Redis (FLIGHTCTL_REDIS_URL) every worker shares it, so two
// workers rendering the same version cannot freeze different content.
import { Redis } from "ioredis";
import { Lru } from "./lru.js";

export interface ContentCache {
  /** The stored value of `key`, or the result of `load` stored under it (the first writer wins). */
  getOrLoad(key: string, load: () => Promise<Buffer>): Promise<Buffer>;
  close(): Promise<void>;
}

/** Redis keys of frozen content start with this (flightctl-restore drops them: they name template versions of the old database). */
export const FROZEN_KEY_PREFIX = "flightctl:frozen:";

/** Frozen content is kept this long after its last write (a template version older than this is fetched again). */
const TTL_SECONDS = 30 * 86400;

export function memoryContentCache(maxEntries = 10_000): ContentCache {
  const lru = new Lru<string, Promise<Buffer>>(maxEntries);
  return {
    getOrLoad(key, load) {
      let v = lru.get(key);
      if (!v) {
        // Concurrent renders of one version share one fetch; a failed fetch is not remembered.
        const p = load();
        lru.set(key, p);
        p.catch(() => {
          if (lru.get(key) === p) lru.delete(key);
        });
        v = p;
      }
      return v;
    },
    async close() {},
  };
}

export function redisContentCache(url: string): ContentCache {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 3 });
  const local = memoryContentCache(1000);
  return {
    getOrLoad: (key, load) =>
      local.getOrLoad(key, async () => {
        const k = `${FROZEN_KEY_PREFIX}${key}`;
        const hit = await redis.getBuffer(k);
        if (hit) return hit;
        const value = await load();
        await redis.set(k, value, "EX", TTL_SECONDS, "NX");
        return (await redis.getBuffer(k)) ?? value;
      }),
    async close() {
      await redis.quit();
    },
  };
}
