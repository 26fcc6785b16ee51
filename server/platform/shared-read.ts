// Sharing of one expensive read between concurrent callers that ask the same thing (single flight), with no staleness:
// a call never gets the result of a read that started before it arrived, so a caller that wrote and then reads sees
// its write. Calls arriving while a read of their key runs wait for it to end and share the one next read; so at
// most two reads of a key are ever in progress (one running, one waiting), however many callers poll it.

/** `read(key, fn)`: fn's result, from a call of fn that started after this call, shared with concurrent callers. */
export function sharedReads<T>(): (key: string, fn: () => Promise<T>) => Promise<T> {
  const running = new Map<string, Promise<T>>();
  const next = new Map<string, Promise<T>>();
  const start = (key: string, fn: () => Promise<T>): Promise<T> => {
    const p: Promise<T> = fn().finally(() => {
      if (running.get(key) === p) running.delete(key);
    });
    running.set(key, p);
    return p;
  };
  return (key, fn) => {
    const waiting = next.get(key);
    if (waiting) return waiting;
    const current = running.get(key);
    if (!current) return start(key, fn);
    const queued = current
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        next.delete(key);
        return start(key, fn);
      });
    next.set(key, queued);
    return queued;
  };
}
