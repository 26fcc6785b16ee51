// The metrics_snapshots table: the fleet-wide gauges as one API replica last computed them. Computing takes a
// transaction-scoped advisory lock and looks at the snapshot's age on the database's clock, so with N replicas ticking
// at different moments one computes per interval and the others find it fresh (or the lock taken) and skip.
import { sql } from "drizzle-orm";
import { metricsSnapshots } from "../../db/schema/index.js";
import { isoTime, rowsOf, type Db, type Executor } from "../platform/db.js";

/** One sample of a gauge. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Snapshot {
  /** When it was computed (the computing transaction's start, database clock). */
  computedAt: Date;
  samples: Sample[];
}

/** The one snapshot the fleet-wide gauges live in. */
const FLEET = "fleet";

export function createMetricsSnapshotStore(db: Db) {
  return {
    /**
     * Runs `compute` and stores its samples, unless another replica holds the lock right now or the snapshot is
     * younger than `minAgeMs`. `compute` runs inside the transaction (the lock is held until the snapshot is written).
     * Returns whether this call computed it.
     */
    async computeIfDue(minAgeMs: number, compute: (tx: Executor) => Promise<Sample[]>): Promise<boolean> {
      return db.transaction(async (tx) => {
        const [lock] = await rowsOf<{ got: boolean }>(
          tx,
          sql`select pg_try_advisory_xact_lock(hashtextextended('metrics:fleet', 0)) as got`,
        );
        if (!lock.got) return false;
        const [row] = await rowsOf<{ age_ms: number }>(
          tx,
          sql`select (extract(epoch from now() - ${metricsSnapshots.computedAt}) * 1000)::float8 as age_ms
                from ${metricsSnapshots} where ${metricsSnapshots.id} = ${FLEET}`,
        );
        if (row && row.age_ms < minAgeMs) return false;
        const samples = await compute(tx);
        await tx.execute(sql`insert into ${metricsSnapshots} (id, computed_at, samples) values (${FLEET}, now(), ${JSON.stringify(samples)}::jsonb)
          on conflict (id) do update set computed_at = excluded.computed_at, samples = excluded.samples`);
        return true;
      });
    },

    /** The last snapshot, or undefined before the first one. */
    async read(): Promise<Snapshot | undefined> {
      const [row] = await rowsOf<{ computed_at: string; samples: Sample[] }>(
        db,
        sql`select ${isoTime(metricsSnapshots.computedAt)}, ${metricsSnapshots.samples} from ${metricsSnapshots} where ${metricsSnapshots.id} = ${FLEET}`,
      );
      return row && { computedAt: new Date(row.computed_at), samples: row.samples };
    },
  };
}

export type MetricsSnapshotStore = ReturnType<typeof createMetricsSnapshotStore>;
