// Data points per device per minute, counted in this gateway's memory (fixed windows): one device flooding the
// gateway is refused with a retry delay while every other device keeps its own budget.
export interface PointRate {
  /** Counts `n` points of `device`: undefined when allowed, else the ms until its window restarts (nothing counted). */
  take(device: string, n: number): number | undefined;
}

/** At most `perMinute` points per device per minute (0: no limit). */
export function createPointRate(perMinute: number, windowMs = 60_000): PointRate {
  if (perMinute <= 0) return { take: () => undefined };
  const windows = new Map<string, { start: number; used: number }>();
  let lastSweep = Date.now();
  return {
    take(device, n) {
      const now = Date.now();
      // Forget devices whose window ended, at most once a window, so the map holds only recent senders.
      if (now - lastSweep > windowMs) {
        for (const [k, w] of windows) if (now - w.start >= windowMs) windows.delete(k);
        lastSweep = now;
      }
      let w = windows.get(device);
      if (!w || now - w.start >= windowMs) {
        w = { start: now, used: 0 };
        windows.set(device, w);
      }
      if (w.used + n > perMinute) return Math.max(1, w.start + windowMs - now);
      w.used += n;
      return undefined;
    },
  };
}
