// One per API process: turns "kind K changed" notifications (Postgres NOTIFY from every replica's writes, via the
// process's one LISTEN connection) into change batches for every open watch stream. A burst of notifications costs
// one horizon sample plus one query per kind, whatever the number of watchers: each watcher's selector is a boolean
// column of that query. Batches only cover versions up to the safe horizon (horizon.ts), so they arrive in version
// order and a stream can resume exactly after any version it was sent.
import type { SQL } from "drizzle-orm";
import type { Logger } from "pino";
import { createHorizon } from "./horizon.js";
import { wakeableSleep } from "./wake.js";
import type { WatchStore } from "./watch-store.js";

/** Postgres notification channel the watch triggers (migration 0007) signal on; payload: the kind. */
export const WATCH_CHANNEL = "flightctl_watch";

/** Subscribes to a notification channel on the process's LISTEN connection; onReconnect: notifications were lost. */
export type Listen = (channel: string, onPayload: (payload: string) => void, onReconnect: () => void) => () => void;

/** A kind as the hub queries it: which sequence orders it and how to fetch a batch. */
export interface WatchSource<Row> {
  kind: string;
  /** Sequence name in the horizon samples (watch-store RESOURCE_SEQ / EVENT_SEQ). */
  seq: string;
  /** Changes in (from, to] in order, with each condition of `conds` evaluated per row. */
  changes(from: number, to: number, conds: SQL[]): Promise<Row[]>;
}

/** A registered watcher: its condition (selector + organization) and what to do with each batch. */
export interface Subscriber<Row> {
  /** Condition over the kind's table; watchers with the same `condKey` share one column of the batch query. */
  cond: SQL;
  condKey: string;
  /** Receives the rows of a batch and, per row, whether it matches this watcher's condition. */
  onBatch(rows: Row[], matches: (row: Row) => boolean, to: number): void;
}

interface KindState {
  source: WatchSource<unknown>;
  /** Everything up to here was queried and handed to the watchers registered at the time. */
  cursor: number;
  subscribers: Set<Subscriber<unknown>>;
  /** A notification arrived since the last query that started after it. */
  dirty: boolean;
  /** The query must reach this version before `dirty` can be cleared (sampled after the notification). */
  needUpTo: number;
  /** Number of the latest notification (hub-wide count): only a sample started after it may resolve `needUpTo`. */
  notifiedAt: number;
  lastQuery: number;
  /** The end of the batch being queried, while one is: new watchers start after it. */
  inflightTo?: number;
}

export interface WatchHubOptions {
  store: WatchStore;
  log: Logger;
  /** The process's LISTEN connection; without it the hub polls every `pollMs`. */
  listen?: Listen;
  /** Gathering time for a burst of notifications (default 50 ms). */
  coalesceMs?: number;
  /** Idle kinds are queried at least this often, so bookmarks carry a fresh version (default 10 s). */
  idleQueryMs?: number;
  /** Poll period without notifications (default 1 s). */
  pollMs?: number;
  /** Deletions are kept this long for resuming (default 1 hour). */
  retentionMs?: number;
}

export function createWatchHub(opts: WatchHubOptions) {
  const { store, log } = opts;
  const coalesceMs = opts.coalesceMs ?? 50;
  const idleQueryMs = opts.idleQueryMs ?? 10_000;
  const pollMs = opts.pollMs ?? (opts.listen ? 5_000 : 1_000);
  const retentionMs = opts.retentionMs ?? 3_600_000;
  const horizon = createHorizon();
  const kinds = new Map<string, KindState>();
  let unlisten: (() => void) | undefined;
  let wake: (() => void) | undefined;
  let running: Promise<void> | undefined;
  let notified = false;
  let notifications = 0;
  let lastPrune = 0;
  let readyWaiters: (() => void)[] = [];
  const stats = { samples: 0, queries: 0, rows: 0 };

  const active = () => readyWaiters.length > 0 || [...kinds.values()].some((k) => k.subscribers.size > 0);

  function onNotify(kind: string) {
    const k = kinds.get(kind);
    if (!k || k.subscribers.size === 0) return;
    k.dirty = true;
    k.needUpTo = Infinity; // resolved by the next sample that starts after this
    k.notifiedAt = ++notifications;
    notified = true;
    wake?.();
  }

  function markAllDirty() {
    for (const k of kinds.values()) onNotify(k.source.kind);
  }

  const sleep = (ms: number) => wakeableSleep(ms, (w) => (wake = w));

  async function loop() {
    while (active()) {
      try {
        await step();
      } catch (err) {
        log.warn({ err }, "watch batch failed; retrying");
        await sleep(1000);
      }
    }
    running = undefined;
    unlisten?.();
    unlisten = undefined;
  }

  async function step() {
    // A notification received while this sample is in flight may be for a write the sample missed.
    const seen = notifications;
    const sample = await store.sample();
    stats.samples++;
    const forced = horizon.forced;
    const advanced = horizon.add(sample);
    if (horizon.forced > forced)
      log.warn(
        "a transaction open for over 10 s no longer holds watch streams back; a version it commits later may be missed by live watchers",
      );
    for (const k of kinds.values()) if (k.needUpTo === Infinity && k.notifiedAt <= seen) k.needUpTo = sample.values[k.source.seq];
    const safe = horizon.safe;
    if (safe && advanced) {
      for (const w of readyWaiters) w();
      readyWaiters = [];
    }
    let pending = !safe;
    if (safe) {
      const now = Date.now();
      await Promise.all(
        [...kinds.values()].map(async (k) => {
          if (k.subscribers.size === 0) return;
          const to = safe[k.source.seq];
          const due = k.dirty || now - k.lastQuery >= idleQueryMs;
          if (due && to > k.cursor) await query(k, to);
          else if (due && !k.dirty) k.lastQuery = now;
          if (k.dirty && k.cursor >= k.needUpTo) k.dirty = false;
          if (k.dirty) pending = true;
        }),
      );
    }
    if (Date.now() - lastPrune > 600_000) {
      lastPrune = Date.now();
      store.prune(new Date(Date.now() - retentionMs)).catch((err) => log.warn({ err }, "pruning watch_changes failed"));
    }
    // Waiting for a horizon: sample again soon. Otherwise sleep until notified (then gather the burst) or the idle tick.
    if (pending) return sleep(coalesceMs);
    notified = false;
    await sleep(pollMs);
    if (notified) await sleep(coalesceMs);
  }

  async function query(k: KindState, to: number) {
    const subs = [...k.subscribers];
    const byKey = new Map<string, number>();
    const conds: SQL[] = [];
    for (const s of subs) {
      if (byKey.has(s.condKey)) continue;
      byKey.set(s.condKey, conds.length);
      conds.push(s.cond);
    }
    k.inflightTo = to;
    try {
      const rows = (await k.source.changes(k.cursor, to, conds)) as { matches: boolean[] }[];
      stats.queries++;
      stats.rows += rows.length;
      k.cursor = to;
      k.lastQuery = Date.now();
      for (const s of subs) {
        if (!k.subscribers.has(s)) continue;
        const i = byKey.get(s.condKey)!;
        s.onBatch(rows, (row) => (row as { matches: boolean[] }).matches[i], to);
      }
    } finally {
      k.inflightTo = undefined;
    }
  }

  function ensureRunning() {
    if (running) return;
    if (opts.listen && !unlisten) unlisten = opts.listen(WATCH_CHANNEL, onNotify, markAllDirty);
    running = loop();
  }

  return {
    /**
     * Registers a watcher of `source` and returns the version its first batch starts after (every change after it
     * reaches onBatch, in order), an unsubscribe function, and `deliver`: batches are held until it is called (the
     * watcher first lists or catches up to `startAfter`), then handed over in order. Resolves once the hub has a safe
     * horizon.
     */
    async subscribe<Row>(
      source: WatchSource<Row>,
      watcher: Subscriber<Row>,
      signal?: AbortSignal,
    ): Promise<{ startAfter: number; unsubscribe: () => void; deliver: () => void }> {
      let held: Parameters<Subscriber<Row>["onBatch"]>[] | undefined = [];
      const sub: Subscriber<Row> = {
        cond: watcher.cond,
        condKey: watcher.condKey,
        onBatch: (...batch) => (held ? held.push(batch) : watcher.onBatch(...batch)),
      };
      const deliver = () => {
        const pending = held ?? [];
        held = undefined;
        for (const batch of pending) watcher.onBatch(...batch);
      };
      if (!horizon.safe) {
        // A caller that leaves while the first horizon is awaited must not keep the loop running (it would retry
        // forever if the database is gone).
        let waiter: (() => void) | undefined;
        const ready = new Promise<void>((resolve) => readyWaiters.push((waiter = resolve)));
        const leave = () => {
          readyWaiters = readyWaiters.filter((w) => w !== waiter);
          waiter!();
          if (!active()) wake?.();
        };
        signal?.addEventListener("abort", leave, { once: true });
        ensureRunning();
        wake?.();
        await ready;
        signal?.removeEventListener("abort", leave);
        if (signal?.aborted) throw signal.reason ?? new Error("watch cancelled");
      }
      let k = kinds.get(source.kind);
      if (!k) {
        k = {
          source: source as WatchSource<unknown>,
          cursor: 0,
          subscribers: new Set(),
          dirty: false,
          needUpTo: 0,
          notifiedAt: 0,
          lastQuery: Date.now(),
        };
        kinds.set(source.kind, k);
      }
      // A kind nobody watches has a stale cursor: start at the horizon (the stream lists or catches up to there).
      if (k.subscribers.size === 0 && k.inflightTo === undefined) k.cursor = Math.max(k.cursor, horizon.safe![source.seq]);
      k.subscribers.add(sub as Subscriber<unknown>);
      // Catch up at once with whatever committed before this watcher came (the list it reads may be ahead).
      onNotify(source.kind);
      ensureRunning();
      const state = k;
      const unsubscribe = () => {
        signal?.removeEventListener("abort", unsubscribe);
        state.subscribers.delete(sub as Subscriber<unknown>);
        if (!active()) wake?.();
      };
      // A stream handler may sit at a yield when its client leaves (no one pulls it on to its finally): the hub lets
      // go of it on abort all the same, so a gone watcher never keeps the loop running.
      if (signal?.aborted) unsubscribe();
      else signal?.addEventListener("abort", unsubscribe, { once: true });
      return { startAfter: k.inflightTo ?? k.cursor, unsubscribe, deliver };
    },

    /** Counters since start (samples taken, batch queries, rows read), for benchmarks and /metrics. */
    stats: () => ({ ...stats, watchers: [...kinds.values()].reduce((n, k) => n + k.subscribers.size, 0) }),

    /** Resolves when the loop has stopped (after the last watcher left). */
    idle: () => running ?? Promise.resolve(),
  };
}

export type WatchHub = ReturnType<typeof createWatchHub>;
