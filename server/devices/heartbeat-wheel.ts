// One timer for every stream's heartbeats: streams join one of `slots` buckets round-robin and a single interval
// wakes one bucket per tick, so each stream hears from it once per period and the writes are spread over it
// (10,000 idle streams cost one timer, not 10,000). A tick's beats are told the tick's time, so what they send can be
// built once per tick and shared by the bucket (device-agent-service.ts: one heartbeat message, encoded once).
export interface HeartbeatWheel {
  /** Calls `beat` once per period (with the tick's time, ms since the epoch) until the returned function is called. */
  join(beat: (now: number) => void): () => void;
  /** Calls `end` when the server drains (shutdown), until the returned function is called. */
  whenDraining(end: () => void): () => void;
  /** Ends every open stream and long-poll (they finish their call cleanly). */
  drain(): void;
  close(): void;
}

export function createHeartbeatWheel(periodMs: number, slots = 30, onError: (err: unknown) => void = () => {}): HeartbeatWheel {
  const buckets = Array.from({ length: slots }, () => new Set<(now: number) => void>());
  // A Set, not listeners on a shared AbortSignal: EventTarget.addEventListener scans every listener, which made each
  // call cost O(open streams).
  const enders = new Set<() => void>();
  let next = 0;
  let tick = 0;
  const timer = setInterval(
    () => {
      const now = Date.now();
      for (const beat of buckets[tick]) {
        // One stream's failure must not skip the rest of its bucket: they would go silent at every turn.
        try {
          beat(now);
        } catch (err) {
          onError(err);
        }
      }
      tick = (tick + 1) % slots;
    },
    Math.max(10, Math.floor(periodMs / slots)),
  );
  timer.unref();
  return {
    join(beat) {
      const bucket = buckets[next];
      next = (next + 1) % slots;
      bucket.add(beat);
      return () => bucket.delete(beat);
    },
    whenDraining(end) {
      enders.add(end);
      return () => enders.delete(end);
    },
    drain() {
      for (const end of [...enders]) end();
    },
    close: () => clearInterval(timer),
  };
}
