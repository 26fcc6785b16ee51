// After a restore, Redis holds content derived from the replaced database: frozen git/http content keyed by template
// version names the restored database may reuse for other content, and console session streams of sessions that no
// longer exist. Only this project's keys are dropped (SCAN by prefix, UNLINK in batches), never the whole Redis,
// which other services may share.
import { Redis } from "ioredis";
import { FROZEN_KEY_PREFIX } from "../platform/content-cache.js";
import { CONSOLE_KEY_PREFIX } from "../console/console-relay.js";

export const PROJECT_KEY_PREFIXES = [FROZEN_KEY_PREFIX, CONSOLE_KEY_PREFIX];

/** Drops every key under `prefixes`; returns how many. Fails (without retrying for long) when Redis cannot be reached. */
export async function purgeProjectKeys(url: string, prefixes = PROJECT_KEY_PREFIXES, timeoutMs = 5000): Promise<number> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    let dropped = 0;
    for (const prefix of prefixes) {
      // Glob characters in a prefix would widen the match: escape them.
      const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
        cursor = next;
        if (keys.length) dropped += await redis.unlink(...keys);
      } while (cursor !== "0");
    }
    return dropped;
  } finally {
    redis.disconnect();
  }
}
