// A sleep that something else can cut short: the watch loop and the streams wait for "time passed or news arrived".

/** Sleeps up to `ms`; `onWake` receives the function that ends the sleep early (cleared when it ends). */
export function wakeableSleep(ms: number, onWake: (wake: (() => void) | undefined) => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      onWake(undefined);
      resolve();
    }
    onWake(done);
  });
}
