// One timer for every stream's heartbeats: streams join one of `slots` buckets round-robin and a single interval
// wakes one bucket per tick, so each stream hears from it once per period and the writes are spread over it
// (10,000 idle streams cost one timer, not 10,000).
export interface HeartbeatWheel {
  /** Calls `beat` once per period until the returned function is called. */
  join(beat: () => void): () => void;
  close(): void;
}

export function createHeartbeatWheel(periodMs: number, slots = 30): HeartbeatWheel {
  const buckets = Array.from({ length: slots }, () => new Set<() => void>());
  let next = 0;
  let tick = 0;
  const timer = setInterval(() => {
    for (const beat of buckets[tick]) beat();
    tick = (tick + 1) % slots;
  }, Math.max(10, Math.floor(periodMs / slots)));
  timer.unref();
  return {
    join(beat) {
      const bucket = buckets[next];
      next = (next + 1) % slots;
      bucket.add(beat);
      return () => bucket.delete(beat);
    },
    close: () => clearInterval(timer),
  };
}
