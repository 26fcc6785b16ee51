// The devices the telemetry gateway accepts data from: a device must exist in the organization its certificate names
// (a deleted device's certificate is worthless, as on the agent endpoint), and its owning fleet becomes a label. Read
// through the device store and cached briefly, so a device exporting every few seconds costs no query per export.
import { deviceKind } from "../devices/device-service.js";
import type { Executor } from "../platform/db.js";
import { Lru } from "../platform/lru.js";
import { kindStore } from "../platform/resource/kind.js";

/** What the gateway knows of an enrolled device. */
export interface DirectoryEntry {
  /** The owning fleet's name, when a fleet owns the device. */
  fleet?: string;
}

export interface DeviceDirectory {
  /** The device, or undefined when `orgId` has no device `name`. */
  lookup(orgId: string, name: string): Promise<DirectoryEntry | undefined>;
}

const FLEET_OWNER = "Fleet/";

/**
 * A directory over the device store; answers are reused for `ttlMs` (absent devices too, for a shorter time). A known
 * device whose answer has expired is answered from the cache while one read refreshes it in the background: devices
 * export every minute or so, longer than the ttl, and would otherwise cost a query on every export (with thousands
 * of devices, a queue on the pool). A deleted device is thus refused from its next export but one.
 */
export function createDeviceDirectory(db: Executor, ttlMs = 30_000, max = 100_000): DeviceDirectory {
  const store = kindStore(deviceKind, db);
  const cache = new Lru<string, { entry?: DirectoryEntry; expires: number }>(max);
  const refreshing = new Map<string, Promise<DirectoryEntry | undefined>>();
  const read = (orgId: string, name: string, key: string): Promise<DirectoryEntry | undefined> => {
    const running = refreshing.get(key);
    if (running) return running;
    const p = store
      .get({ orgId, name })
      .then((rec) => {
        const entry = rec ? { fleet: rec.owner?.startsWith(FLEET_OWNER) ? rec.owner.slice(FLEET_OWNER.length) : undefined } : undefined;
        // A device enrolled a moment ago should not wait a whole ttl to be let in.
        cache.set(key, { entry, expires: Date.now() + (entry ? ttlMs : Math.min(ttlMs, 5_000)) });
        return entry;
      })
      .finally(() => refreshing.delete(key));
    refreshing.set(key, p);
    return p;
  };
  return {
    async lookup(orgId, name) {
      const key = `${orgId}/${name}`;
      const hit = cache.get(key);
      if (hit && hit.expires > Date.now()) return hit.entry;
      if (hit?.entry) {
        // Stale but known: answer now, refresh behind (a failed refresh keeps the entry until the next try).
        read(orgId, name, key).catch(() => {});
        return hit.entry;
      }
      return read(orgId, name, key);
    },
  };
}
