// The "safe horizon" of a Postgres sequence: the highest value V such that every row written with a value <= V is
// committed (or rolled back). Sequences hand out values before commit, so a transaction holding value 100 may commit
// after one holding 101; a watcher that read "everything after 100" at that moment would never see 100. Watch streams
// therefore only deliver changes up to the safe horizon, in order, which makes "resume after version N" exact.
//
// How: each sample reads the sequences' last values and pg_current_snapshot() in one statement. A value read at
// sample i was handed out to a transaction that had its transaction id by sample i+1 (ids are taken right after
// nextval, and samples are tens of milliseconds apart), so it is either finished at i+1 or in that snapshot's
// in-progress list. Once all of those have finished, sample i's values are safe. A transaction that stays open longer
// than `maxWaitMs` (an unrelated long job) does not stall watchers forever: the candidate is then taken as safe.

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

/** Whether transaction `xid`, in progress at some earlier snapshot, is still in progress in `now`. */
const inProgress = (xid: bigint, now: Snapshot) => xid >= now.xmin && now.xip.includes(xid);

/** One sample: the sequences' values (by name) and the snapshot, taken together. */
export interface Sample {
  values: Record<string, number>;
  snapshot: Snapshot;
  at: number;
}

export function createHorizon(opts: { maxWaitMs?: number; now?: () => number } = {}) {
  const maxWait = opts.maxWaitMs ?? 10_000;
  const now = opts.now ?? Date.now;
  // Candidates in sample order; each waits for the in-progress list of the sample after it.
  const pending: { values: Record<string, number>; at: number; waitFor?: bigint[] }[] = [];
  let safe: Record<string, number> | undefined;

  return {
    /** The safe values, or undefined until two samples have established them. */
    get safe(): Record<string, number> | undefined {
      return safe;
    },

    /** Whether candidates are still waiting (the caller samples again soon). */
    get waiting(): boolean {
      return pending.length > 0;
    },

    /** Feeds a new sample; returns true when the safe values advanced. */
    add(sample: Sample): boolean {
      // The previous candidate waits for what this snapshot shows in progress.
      const last = pending[pending.length - 1];
      if (last && !last.waitFor) last.waitFor = sample.snapshot.xip;
      // Newest first: once a candidate is safe, all older ones are too.
      let advanced = false;
      for (let i = pending.length - 1; i >= 0; i--) {
        const c = pending[i];
        if (!c.waitFor) continue;
        const done = !c.waitFor.some((x) => inProgress(x, sample.snapshot)) || now() - c.at > maxWait;
        if (!done) continue;
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
