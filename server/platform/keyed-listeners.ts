// Listeners by key (a device's render notifications, its console sessions). Nearly every key has one listener (the
// device's one rendered-device stream): it is held bare, and a Set only from the second on — an empty Set with its
// table cost ≈ 0.2 KB, per registry and stream, for as long as the stream lives (10,000 per API at scale).
export interface KeyedListeners<L extends (...args: never[]) => void> {
  /** Adds `listener` under `key`; returns how to remove it. */
  add(key: string, listener: L): () => void;
  /** Each listener of `key` (none: nothing). */
  each(key: string, call: (listener: L) => void): void;
  has(key: string, listener: L): boolean;
  keys(): IterableIterator<string>;
  /** Number of keys with at least one listener. */
  readonly size: number;
}

export function keyedListeners<L extends (...args: never[]) => void>(): KeyedListeners<L> {
  const byKey = new Map<string, L | Set<L>>();
  return {
    add(key, listener) {
      const have = byKey.get(key);
      if (have === undefined) byKey.set(key, listener);
      else if (have instanceof Set) have.add(listener);
      else if (have !== listener) byKey.set(key, new Set([have, listener]));
      return () => {
        const now = byKey.get(key);
        if (now === listener) byKey.delete(key);
        else if (now instanceof Set && now.delete(listener) && now.size === 0) byKey.delete(key);
      };
    },
    each(key, call) {
      const have = byKey.get(key);
      if (have === undefined) return;
      if (have instanceof Set) for (const l of have) call(l);
      else call(have);
    },
    has(key, listener) {
      const have = byKey.get(key);
      return have instanceof Set ? have.has(listener) : have === listener;
    },
    keys: () => byKey.keys(),
    get size() {
      return byKey.size;
    },
  };
}
