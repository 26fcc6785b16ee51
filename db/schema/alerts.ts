// The alert exporter's state (server/alerts/): how far it has read the events, and every alert it holds. Both change
// in one transaction per batch of events, so a restart resumes exactly where the last commit left off.
import { bigint, boolean, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const alertExporterState = pgTable("alert_exporter_state", {
  /** Always 1: one exporter state per database. */
  id: integer("id").primaryKey(),
  /** Every event with a seq at or below this has been turned into alerts. */
  cursor: bigint("cursor", { mode: "number" }).notNull(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
});

export const alerts = pgTable(
  "alerts",
  {
    orgId: uuid("org_id").notNull(),
    /** The involved resource's kind (Device, Fleet) and name. */
    kind: text("kind").notNull(),
    resource: text("resource").notNull(),
    alertname: text("alertname").notNull(),
    /** The labels as sent (fixed when the alert starts: Alertmanager tells alerts apart by their labels). */
    labels: jsonb("labels").$type<Record<string, string>>().notNull(),
    annotations: jsonb("annotations").$type<Record<string, string>>().notNull(),
    startsAt: timestamp("starts_at", { withTimezone: true, mode: "string" }).notNull(),
    /** Set when resolved; the row is deleted once Alertmanager has accepted the resolution. */
    endsAt: timestamp("ends_at", { withTimezone: true, mode: "string" }),
    /** Changed since Alertmanager last accepted it. */
    dirty: boolean("dirty").notNull().default(true),
    /** The event that raised (or resolved) it. */
    eventSeq: bigint("event_seq", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ name: "alerts_pkey", columns: [t.orgId, t.kind, t.resource, t.alertname] })],
);
