// The devices the telemetry gateway accepts data from: a device must exist in the organization its certificate names
// (a deleted device's certificate is worthless, as on the agent endpoint), and its owning fleet becomes a label. Read
// from the devices table and cached briefly, so a device exporting every few seconds costs no query per export.
import type { Executor } from "../platform/db.js";
import { Lru } from "../platform/lru.js";
import { deviceOwners } from "../devices/device-owners-store.js";

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
/** Devices read in one statement. */
const BATCH = 1000;

/**
 * A directory over the devices table; answers are reused for `ttlMs` (absent devices too, for a shorter time). A known
 * device whose answer has expired is answered from the cache while a read refreshes it in the background: devices
 * export every minute or so, longer than the ttl, and would otherwise cost a query on every export. A deleted device is
 * thus refused from its next export but one. Reads are batched: the devices asked for while a read runs go together in
 * the next one (one statement per organization, up to BATCH names), so thousands of devices connecting at once wait
 * for a few queries, not for a queue of one query each on the gateway's small pool.
 */
export function createDeviceDirectory(db: Executor, ttlMs = 30_000, max = 100_000): DeviceDirectory {
  const cache = new Lru<string, { entry?: DirectoryEntry; expires: number }>(max);
  type Waiter = { resolve: (e: DirectoryEntry | undefined) => void; reject: (e: unknown) => void };
  /** org → device name → the lookups waiting for it (also dedupes reads of one device). */
  const pending = new Map<string, Map<string, Waiter[]>>();
  const queued = new Map<string, Promise<DirectoryEntry | undefined>>();
  let reading = false;

  async function readBatch(orgId: string, batch: Map<string, Waiter[]>): Promise<void> {
    const names = [...batch.keys()];
    try {
      const owners = await deviceOwners(db, orgId, names);
      const now = Date.now();
      for (const [name, waiters] of batch) {
        const owner = owners.get(name);
        const entry =
          owner === undefined ? undefined : { fleet: owner?.startsWith(FLEET_OWNER) ? owner.slice(FLEET_OWNER.length) : undefined };
        // A device enrolled a moment ago should not wait a whole ttl to be let in.
        cache.set(`${orgId}/${name}`, { entry, expires: now + (entry ? ttlMs : Math.min(ttlMs, 5_000)) });
        for (const w of waiters) w.resolve(entry);
      }
    } catch (e) {
      for (const waiters of batch.values()) for (const w of waiters) w.reject(e);
    } finally {
      for (const name of names) queued.delete(`${orgId}/${name}`);
    }
  }

  /** Reads what is pending, batch after batch, one read at a time. */
  async function drain(): Promise<void> {
    if (reading) return;
    reading = true;
    try {
      while (pending.size) {
        const [orgId, names] = pending.entries().next().value!;
        const batch = new Map<string, Waiter[]>();
        for (const [name, waiters] of names) {
          batch.set(name, waiters);
          names.delete(name);
          if (batch.size >= BATCH) break;
        }
        if (!names.size) pending.delete(orgId);
        await readBatch(orgId, batch);
      }
    } finally {
      reading = false;
    }
  }

  function read(orgId: string, name: string): Promise<DirectoryEntry | undefined> {
    const key = `${orgId}/${name}`;
    const running = queued.get(key);
    if (running) return running;
    const p = new Promise<DirectoryEntry | undefined>((resolve, reject) => {
      let names = pending.get(orgId);
      if (!names) pending.set(orgId, (names = new Map()));
      names.set(name, [{ resolve, reject }]);
    });
    queued.set(key, p);
    // Lookups arriving in the same turn join this batch.
    setImmediate(() => void drain());
    return p;
  }

  return {
    async lookup(orgId, name) {
      const hit = cache.get(`${orgId}/${name}`);
      if (hit && hit.expires > Date.now()) return hit.entry;
      if (hit?.entry) {
        // Stale but known: answer now, refresh behind (a failed refresh keeps the entry until the next try).
        read(orgId, name).catch(() => {});
        return hit.entry;
      }
      return read(orgId, name);
    },
  };
}
