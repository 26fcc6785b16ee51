// A limit on connection attempts (TCP + TLS handshake) in progress at once, shared by the agents of one simulator.
// Thousands of agents starting together otherwise all handshake at once: each handshake then takes long enough on a
// busy host to hit its timeout, and the retries repeat the storm (seen: 3.4 connections made per agent to connect
// 1,000). Queued attempts start in order as slots free up; an attempt holds its slot until it is connected or failed.
export interface ConnectSlots {
  /** Resolves with the release function (safe to call more than once) once a slot is free. */
  acquire(): Promise<() => void>;
}

export function connectSlots(limit: number): ConnectSlots {
  let busy = 0;
  const queue: (() => void)[] = [];
  const release = () => {
    const next = queue.shift();
    if (next) next();
    else busy--;
  };
  return {
    acquire() {
      let released = false;
      const once = () => {
        if (released) return;
        released = true;
        release();
      };
      if (busy < limit) {
        busy++;
        return Promise.resolve(once);
      }
      return new Promise((resolve) => queue.push(() => resolve(once)));
    },
  };
}
