// Bounded parallelism for background passes that talk to the network (repository tests, dependency probes): a few
// at a time, so one pass over many repositories neither serializes on slow hosts nor opens hundreds of connections.

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
