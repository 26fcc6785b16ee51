// What watch streams need beyond the resource tables: the creations and deletions of the last hour (a deleted row is
// gone, so its last state is kept here for DELETED events and for resuming), and how far that record was pruned.
// Rows are written by triggers (migration 0006_watch_triggers), so every writer is covered, not only the API.
import { bigint, index, integer, jsonb, pgTable, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { sql } from "drizzle-orm";
import { textC } from "./resource.js";

export const watchChanges = pgTable(
  "watch_changes",
  {
    /** resource_version of the change: the created row's version, or a fresh one for a deletion. */
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull(),
    /** Resource kind, e.g. "Device". */
    kind: text("kind").notNull(),
    orgId: uuid("org_id").notNull(),
    name: textC("name").notNull(),
    /** Parent name for child kinds (a template version's fleet); null otherwise. */
    parent: textC("parent"),
    /** "ADDED" or "DELETED". */
    op: text("op").notNull(),
    /** The deleted row (to_jsonb of the table row); null for ADDED. */
    object: jsonb("object"),
    at: timestamp("at", { withTimezone: true }).notNull().default(sql`now()`),
  },
  (t) => [index("watch_changes_kind_rv_idx").on(t.kind, t.resourceVersion), index("watch_changes_at_idx").on(t.at)],
);

/** One row: changes at or below pruned_rv are no longer all in watch_changes (resuming there is "too old"). */
export const watchState = pgTable("watch_state", {
  id: integer("id").primaryKey().default(1),
  prunedRv: bigint("pruned_rv", { mode: "number" }).notNull(),
});
