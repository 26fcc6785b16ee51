// When the periodic status must go to the service although nothing changed. While the rendered-device stream is open
// and hearing the service's heartbeats, those heartbeats are what mark the device seen (the service marks lastSeen as
// it sends each one), so an unchanged status is not sent again: an idle device costs the service one heartbeat per
// period, not a status report too (flightctl's agent, too, skips a status equal to the last one it sent). The status
// is still read from the host every interval and sent when it differs. It is sent in full anyway:
// - when no stream message was heard for QUIET_MS, or a gap that long happened since the previous tick (no stream,
//   a stalled stream or service: the disconnect sweep may have marked the device, and only a report undoes that);
// - after the stream was opened again (a restarted or restored service settles its handshake with a report:
//   server/devices/reconnect.ts), at once (see `reconnected`);
// - at least every FULL_MAX_MS, for what the agent cannot observe (e.g. lastSeen writes failing on the service).

/** Longer than any sane heartbeat period (30 s by default) and well under the 5-minute disconnect threshold. */
export const QUIET_MS = 120_000;
/** A full report at least this often whatever the stream says (10,000 idle devices: ≈ 5.6 reports/s). */
export const FULL_MAX_MS = 30 * 60_000;

export interface StatusCadence {
  /** A message (device or heartbeat) arrived on the rendered-device stream. */
  heard(): void;
  /** Whether this periodic tick must send the status even unchanged; a `true` counts as the full report. */
  due(): boolean;
}

export function statusCadence(now: () => number = Date.now): StatusCadence {
  let lastHeard = Number.NEGATIVE_INFINITY;
  /** The longest silence since the previous tick (a silence that spans a tick counts from it, not twice). */
  let longestGap = 0;
  let lastTick = Number.NEGATIVE_INFINITY;
  let lastFull = now();
  return {
    heard() {
      const t = now();
      if (lastHeard !== Number.NEGATIVE_INFINITY) longestGap = Math.max(longestGap, t - Math.max(lastHeard, lastTick));
      lastHeard = t;
    },
    due() {
      const t = now();
      const quiet = Math.max(longestGap, t - lastHeard) > QUIET_MS;
      longestGap = 0;
      lastTick = t;
      if (!quiet && t - lastFull < FULL_MAX_MS) return false;
      lastFull = t;
      return true;
    },
  };
}
