// What each device should run: its rendered spec and a version that only grows, written by the render task and
// read by the agent endpoint. Kept apart from the device row so rendering does not re-version the resource.
import { bigint, jsonb, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { textC } from "./resource.js";

export const deviceRenders = pgTable(
  "device_renders",
  {
    orgId: uuid("org_id").notNull(),
    name: textC("name").notNull(),
    /** Increases by one each time the rendered content changes. */
    renderedVersion: bigint("rendered_version", { mode: "number" }).notNull(),
    /** SHA-256 of the rendered spec: an unchanged render keeps its version. */
    specHash: text("spec_hash").notNull(),
    /** The rendered DeviceSpec (flightctl JSON). */
    spec: jsonb("spec").notNull(),
    renderedAt: timestamp("rendered_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ name: "device_renders_pkey", columns: [t.orgId, t.name] })],
);
