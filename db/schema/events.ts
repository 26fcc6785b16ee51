// The audit trail. `seq` orders and paginates (uuids do not sort by time); `id` is the event's metadata.name.
import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";

export const events = pgTable(
  "events",
  {
    // Default replaced by flightctl_next_event_seq() (migration 0008): the transaction id before the value, for watches.
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    id: uuid("id").notNull().unique("events_id_key").defaultRandom(),
    orgId: uuid("org_id").notNull(),
    // clock_timestamp, not now(): several events written in one transaction keep distinct, ordered times.
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().default(sql`clock_timestamp()`),
    reason: text("reason").notNull(),
    /** Normal | Warning */
    type: text("type").notNull(),
    involvedKind: text("involved_kind").notNull(),
    involvedName: text("involved_name").notNull(),
    actor: text("actor").notNull(),
    message: text("message").notNull(),
    sourceComponent: text("source_component").notNull(),
    details: jsonb("details").$type<Record<string, unknown>>(),
    requestId: text("request_id"),
  },
  (t) => [
    index("events_org_seq_idx").on(t.orgId, t.seq),
    index("events_org_involved_idx").on(t.orgId, t.involvedKind, t.involvedName, t.seq),
    index("events_org_reason_idx").on(t.orgId, t.reason, t.seq),
    // Retention cleanup deletes by age across all orgs.
    index("events_created_idx").on(t.createdAt),
  ],
);
