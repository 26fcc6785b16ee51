// Heartbeats land here in batches instead of rewriting (and re-versioning) device rows on every report.
import { pgTable, primaryKey, timestamp, uuid } from "drizzle-orm/pg-core";
import { textC } from "./resource.js";

export const deviceLastSeen = pgTable(
  "device_last_seen",
  {
    orgId: uuid("org_id").notNull(),
    name: textC("name").notNull(),
    lastSeen: timestamp("last_seen", { withTimezone: true }).notNull(),
  },
  (t) => [primaryKey({ name: "device_last_seen_pkey", columns: [t.orgId, t.name] })],
);
