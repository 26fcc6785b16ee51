-- Custom SQL migration: identity providers that assign every user to "default" (flightctl's default external id)
-- land in the default organization.
UPDATE "organizations" SET "external_id" = 'default' WHERE "id" = '00000000-0000-0000-0000-000000000000' AND "external_id" = '';
