// A push-to-pull queue: producers push (and may wait while it is full), one consumer iterates. Console frames flow
// through it between a relay and an RPC stream, so a slow reader slows the writer instead of growing memory.
export interface AsyncQueue<T> extends AsyncIterable<T> {
  /** Adds an item; resolves once the queue is below its high-water mark (backpressure). */
  push(item: T): Promise<void>;
  /** Ends the queue after the items already in it; with `err` the consumer throws it after them. */
  end(err?: unknown): void;
  readonly ended: boolean;
  readonly length: number;
  /** The items in batches: each time, everything queued so far (at least one item), so a slow consumer catches up. */
  batches(): AsyncIterable<T[]>;
}

export function createAsyncQueue<T>(highWater = 256): AsyncQueue<T> {
  const items: T[] = [];
  let done: { err?: unknown } | undefined;
  let wakeConsumer: (() => void) | undefined;
  const waitingProducers: (() => void)[] = [];
  const releaseProducers = () => {
    if (items.length >= highWater && !done) return;
    for (const w of waitingProducers.splice(0)) w();
  };
  return {
    get ended() {
      return !!done;
    },
    get length() {
      return items.length;
    },
    push(item) {
      if (done) return Promise.resolve();
      items.push(item);
      wakeConsumer?.();
      if (items.length < highWater) return Promise.resolve();
      return new Promise<void>((resolve) => waitingProducers.push(resolve));
    },
    end(err) {
      if (done) return;
      done = { err };
      wakeConsumer?.();
      releaseProducers();
    },
    async *[Symbol.asyncIterator]() {
      for await (const batch of drain(false)) yield* batch;
    },
    batches: () => drain(true),
  };

  /** Consumes the queue: one item at a time, or all that is queued at once when `all`. */
  async function* drain(all: boolean): AsyncGenerator<T[]> {
    try {
      for (;;) {
        if (items.length > 0) {
          const batch = all ? items.splice(0) : [items.shift()!];
          releaseProducers();
          yield batch;
          continue;
        }
        if (done) {
          if (done.err !== undefined) throw done.err;
          return;
        }
        await new Promise<void>((resolve) => (wakeConsumer = resolve));
        wakeConsumer = undefined;
      }
    } finally {
      // The consumer left: nobody will drain, so producers must not wait.
      done ??= {};
      items.length = 0;
      releaseProducers();
    }
  }
}
