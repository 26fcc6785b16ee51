// Organizations. The default one (all-zero uuid) is inserted by a custom migration.
import { sql } from "drizzle-orm";
import { bigint, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

export const DEFAULT_ORG_ID = "00000000-0000-0000-0000-000000000000";

export const organizations = pgTable(
  "organizations",
  {
    id: uuid("id").primaryKey(),
    displayName: text("display_name").notNull().default(""),
    externalId: text("external_id").notNull().default(""),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(sql`flightctl_next_version()`),
  },
  (t) => [
    // Identity providers name organizations; their name (external id) maps to exactly one row.
    uniqueIndex("organizations_external_id_key").on(t.externalId).where(sql`external_id <> ''`),
  ],
);
