// Waiting for several things to finish, but not for ever: a simulator thread whose event loop hangs must not hold
// the simulator's stop (and with it the operator's Ctrl-C or a benchmark's teardown) for good.

/** Waits until every promise settled or `ms` passed; returns the indexes of those still pending then. */
export async function lateAfter(promises: Promise<unknown>[], ms: number): Promise<number[]> {
  const settled = promises.map(() => false);
  const all = Promise.allSettled(promises.map((p, i) => p.finally(() => (settled[i] = true))));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((res) => (timer = setTimeout(res, ms)));
  try {
    await Promise.race([all, late]);
  } finally {
    clearTimeout(timer);
  }
  return settled.flatMap((done, i) => (done ? [] : [i]));
}
