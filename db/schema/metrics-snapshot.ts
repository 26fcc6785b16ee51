// The fleet-wide service metrics as last computed (server/metrics/fleet-gauges.ts): one API replica computes them per
// interval and every replica serves this row, so N replicas report the same figures and the counting runs once.
import { jsonb, pgTable, text, timestamp } from "drizzle-orm/pg-core";

export const metricsSnapshots = pgTable("metrics_snapshots", {
  /** What the snapshot holds ("fleet": the fleet-wide gauges). */
  id: text("id").primaryKey(),
  computedAt: timestamp("computed_at", { withTimezone: true }).notNull(),
  /** The samples, as server/metrics/fleet-gauges.ts writes them. */
  samples: jsonb("samples").notNull(),
});
