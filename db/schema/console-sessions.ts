// Console sessions: one row per session, open or ended, holding who opened it on which device, how it ran, and its
// asciicast recording once it ended. Rows older than the retention are deleted by the periodic event_cleanup job.
import { bigint, boolean, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { textC } from "./resource.js";

export const consoleSessions = pgTable(
  "console_sessions",
  {
    id: uuid("id").primaryKey(),
    orgId: uuid("org_id").notNull(),
    device: textC("device").notNull(),
    /** "user:<name>" of who opened it. */
    actor: text("actor").notNull(),
    /** ConsoleSessionMetadata JSON. */
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    attachedAt: timestamp("attached_at", { withTimezone: true }),
    endedAt: timestamp("ended_at", { withTimezone: true }),
    /** ConsoleClose JSON. */
    close: jsonb("close").$type<Record<string, unknown>>(),
    exitCode: integer("exit_code"),
    /** asciicast v2 text; null while open. */
    recording: text("recording"),
    recordingBytes: bigint("recording_bytes", { mode: "number" }).notNull().default(0),
    recordingTruncated: boolean("recording_truncated").notNull().default(false),
  },
  (t) => [
    // Open sessions per device (the concurrency cap) and a device's session list.
    index("console_sessions_device_idx").on(t.orgId, t.device, t.createdAt),
    // Retention cleanup deletes by age across all orgs.
    index("console_sessions_created_idx").on(t.createdAt),
  ],
);
