-- Custom SQL migration (drizzle-kit cannot express seed rows): the default organization every single-tenant
-- install uses. ON CONFLICT keeps it idempotent if an operator created it by hand.
INSERT INTO "organizations" ("id", "display_name") VALUES ('00000000-0000-0000-0000-000000000000', 'Default')
ON CONFLICT ("id") DO NOTHING;
