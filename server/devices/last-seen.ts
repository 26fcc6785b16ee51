// When each device was last heard from, written in batches: every report only marks the device in memory, and a
// flush writes all marked devices in one statement (flightctl flushes every 15 s or 1500 devices; we flush on a
// timer and when the batch grows large). The disconnect sweep reads the table.
import type { Logger } from "pino";
import type { Db } from "../platform/db.js";
import { createDeviceStore } from "./device-store.js";

export interface LastSeenRecorder {
  touch(orgId: string, name: string, at?: Date): void;
  /** Writes what is pending; returns how many rows. */
  flush(): Promise<number>;
  /** Rows written so far (for metrics and benchmarks). */
  readonly written: number;
  close(): Promise<void>;
}

export function createLastSeenRecorder(db: Db, log: Logger, opts: { flushMs?: number; maxBatch?: number } = {}): LastSeenRecorder {
  let pending = new Map<string, Date>();
  let written = 0;
  let flushing: Promise<number> | undefined;
  const maxBatch = opts.maxBatch ?? 5000;
  const store = createDeviceStore(db);

  async function write(batch: Map<string, Date>): Promise<number> {
    if (batch.size === 0) return 0;
    const rows = [...batch].map(([key, at]) => {
      const i = key.indexOf("/");
      return { orgId: key.slice(0, i), name: key.slice(i + 1), at };
    });
    await store.recordLastSeen(rows);
    written += batch.size;
    return batch.size;
  }

  function flush(): Promise<number> {
    if (flushing) return flushing.then(() => flush());
    const batch = pending;
    pending = new Map();
    flushing = write(batch)
      .catch((err) => {
        // Keep the marks for the next flush; a newer touch wins.
        for (const [k, v] of batch) if (!pending.has(k)) pending.set(k, v);
        log.warn({ err, devices: batch.size }, "cannot write lastSeen; will retry");
        return 0;
      })
      .finally(() => (flushing = undefined));
    return flushing;
  }

  const timer = setInterval(() => void flush(), opts.flushMs ?? 5000);
  timer.unref();
  return {
    touch(orgId, name, at = new Date()) {
      pending.set(`${orgId}/${name}`, at);
      if (pending.size >= maxBatch) void flush();
    },
    flush,
    get written() {
      return written;
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
