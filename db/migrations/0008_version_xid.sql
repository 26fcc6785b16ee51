-- Custom SQL migration: writes take their transaction id before a watch sequence value. nextval() alone assigns none
-- (the id comes with the first row written, a moment later), and watch streams' safe horizon
-- (server/platform/watch/horizon.ts) finds the transactions that may still hold a value by their ids. Free for a
-- writing transaction (it needs the id anyway), and free per row: the planner inlines these one-expression SQL
-- functions, and CASE evaluates its condition (which takes the id) before nextval().
-- flightctl_next_version(): every resource_version (column defaults from 0009, and every UPDATE).
CREATE FUNCTION flightctl_next_version() RETURNS bigint LANGUAGE sql VOLATILE AS $$
  SELECT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('resource_version_seq') END
$$;
--> statement-breakpoint
-- flightctl_next_event_seq(): the events' seq (a bigserial in db/schema/events.ts; its default is replaced here).
CREATE FUNCTION flightctl_next_event_seq() RETURNS bigint LANGUAGE sql VOLATILE AS $$
  SELECT CASE WHEN pg_current_xact_id() IS NOT NULL THEN nextval('events_seq_seq') END
$$;
--> statement-breakpoint
ALTER TABLE events ALTER COLUMN seq SET DEFAULT flightctl_next_event_seq();
