// Coalescing of many small reads or writes into one statement (dataloader): what the agent endpoint's callers ask
// within a couple of milliseconds, or up to 500 at once, becomes one call. A short wait costs one request little and,
// when a fleet rolls out and thousands of devices ask at once, turns thousands of statements into a few.
import DataLoader from "dataloader";

export function batchLoader<K, V>(load: (keys: readonly K[]) => Promise<V[]>): DataLoader<K, V> {
  return new DataLoader<K, V>(async (keys) => load(keys), {
    cache: false,
    maxBatchSize: 500,
    batchScheduleFn: (run) => setTimeout(run, 2),
  });
}
