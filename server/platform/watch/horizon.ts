// The "safe horizon" of a Postgres sequence: the highest value V such that every row written with a value <= V is
// committed (or rolled back). Sequences hand out values before commit, so a transaction holding value 100 may commit
// after one holding 101; a watcher that read "everything after 100" at that moment would never see 100. Watch streams
// therefore only deliver changes up to the safe horizon, in order, which makes "resume after version N" exact.
//
// How: each sample reads the sequences' last values, pg_current_snapshot() and the next transaction id to be assigned.
// Writers take their transaction id before a version (flightctl_next_version(), migration 0008; nextval() alone does
// not assign one), so a value read at sample i belongs to a transaction whose id is below the next id read at sample
// i+1. At sample i+1 such a transaction is finished, in the snapshot's in-progress list, or has an id at or above the
// snapshot's xmax: Postgres leaves running ids >= xmax (= latest completed id + 1) out of that list, so the whole range
// [xmax, next id) is waited for too. Once none of those is in progress, sample i's values are safe. A transaction that
// stays open longer than `maxWaitMs` (an unrelated long job) does not stall watchers forever: the candidate is then
// taken as safe.

/** A parsed pg_snapshot text "xmin:xmax:xip,xip,...". */
export interface Snapshot {
  xmin: bigint;
  xmax: bigint;
  xip: bigint[];
}

export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip] = text.split(":");
  return { xmin: BigInt(xmin), xmax: BigInt(xmax), xip: xip ? xip.split(",").map((x) => BigInt(x)) : [] };
}

/** Whether an assigned transaction id `xid` is still in progress in `now` (ids >= xmax have not completed). */
const inProgress = (xid: bigint, now: Snapshot) => xid >= now.xmax || (xid >= now.xmin && now.xip.includes(xid));

/** One sample: the sequences' values (by name), the snapshot and the next transaction id, taken together. */
export interface Sample {
  values: Record<string, number>;
  snapshot: Snapshot;
  /** The next transaction id to be assigned, read after the snapshot (64-bit, like the snapshot's ids). */
  nextXid: bigint;
  at: number;
}

/** The transactions a candidate waits for: those in progress at the sample after it. */
interface WaitFor {
  /** Listed in progress. */
  xip: bigint[];
  /** Every assigned id in [from, to) may be in progress too (the snapshot does not list them). */
  from: bigint;
  to: bigint;
}

/** Whether any transaction of `w` is still in progress in `now`. */
function waiting(w: WaitFor, now: Snapshot): boolean {
  // An id of [from, to) at or above now.xmax has not completed; below it, only the listed ones are in progress.
  if (now.xmax < w.to && w.from < w.to) return true;
  if (now.xip.some((x) => x >= w.from && x < w.to)) return true;
  return w.xip.some((x) => inProgress(x, now));
}

export function createHorizon(opts: { maxWaitMs?: number; now?: () => number } = {}) {
  const maxWait = opts.maxWaitMs ?? 10_000;
  const now = opts.now ?? Date.now;
  // Candidates in sample order; each waits for the transactions in progress at the sample after it.
  const pending: { values: Record<string, number>; at: number; waitFor?: WaitFor }[] = [];
  let safe: Record<string, number> | undefined;
  let forced = 0;

  return {
    /** The safe values, or undefined until two samples have established them. */
    get safe(): Record<string, number> | undefined {
      return safe;
    },

    /** How many times a candidate was taken as safe after `maxWaitMs` with a transaction still in progress. */
    get forced(): number {
      return forced;
    },

    /** Whether candidates are still waiting (the caller samples again soon). */
    get waiting(): boolean {
      return pending.length > 0;
    },

    /** Feeds a new sample; returns true when the safe values advanced. */
    add(sample: Sample): boolean {
      // The previous candidate waits for what is in progress at this sample.
      const last = pending[pending.length - 1];
      if (last && !last.waitFor) last.waitFor = { xip: sample.snapshot.xip, from: sample.snapshot.xmax, to: sample.nextXid };
      // Newest first: once a candidate is safe, all older ones are too.
      let advanced = false;
      for (let i = pending.length - 1; i >= 0; i--) {
        const c = pending[i];
        if (!c.waitFor) continue;
        const stillWaiting = waiting(c.waitFor, sample.snapshot);
        if (stillWaiting && now() - c.at <= maxWait) continue;
        if (stillWaiting) forced++;
        safe = c.values;
        pending.splice(0, i + 1);
        advanced = true;
        break;
      }
      pending.push({ values: sample.values, at: sample.at });
      // Bounded memory when something stays in progress for long: keep the newest candidates.
      if (pending.length > 1000) pending.splice(0, pending.length - 1000);
      return advanced;
    },
  };
}

export type Horizon = ReturnType<typeof createHorizon>;
