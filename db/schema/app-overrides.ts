// Application lifecycle overrides (flightctl's start/stop/restart actions): kept apart from the device and fleet
// specs so fleet rollouts never erase them, and applied on top of the rendered applications at render time.
import { integer, pgTable, primaryKey, text, timestamp, uuid } from "drizzle-orm/pg-core";
import { textC } from "./resource.js";

export const appOverrides = pgTable(
  "app_overrides",
  {
    orgId: uuid("org_id").notNull(),
    /** "Device" or "Fleet": whose override this is (a fleet's applies to every member device). */
    ownerKind: text("owner_kind").notNull(),
    /** The device's or the fleet's name. */
    ownerName: textC("owner_name").notNull(),
    /** The application's name as rendered (its name, or its image when it has none). */
    appName: textC("app_name").notNull(),
    /** "running" or "stopped" from the last start/stop; null when only restarted. */
    desiredState: text("desired_state"),
    /** When desiredState was set: between a device's and its fleet's, the more recent wins. */
    stateSetAt: timestamp("state_set_at", { withTimezone: true, mode: "string" }),
    /** Bumped by each restart action (devices only). */
    restartGeneration: integer("restart_generation").notNull().default(0),
  },
  (t) => [primaryKey({ name: "app_overrides_pkey", columns: [t.orgId, t.ownerKind, t.ownerName, t.appName] })],
);
