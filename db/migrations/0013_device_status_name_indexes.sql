DROP INDEX "devices_summary_status_idx";--> statement-breakpoint
DROP INDEX "devices_updated_status_idx";--> statement-breakpoint
DROP INDEX "devices_apps_status_idx";--> statement-breakpoint
DROP INDEX "devices_lifecycle_status_idx";--> statement-breakpoint
CREATE INDEX "devices_summary_status_idx" ON "devices" USING btree ("org_id",("status"->'summary'->>'status'),"name");--> statement-breakpoint
CREATE INDEX "devices_updated_status_idx" ON "devices" USING btree ("org_id",("status"->'updated'->>'status'),"name");--> statement-breakpoint
CREATE INDEX "devices_apps_status_idx" ON "devices" USING btree ("org_id",("status"->'applicationsSummary'->>'status'),"name");--> statement-breakpoint
CREATE INDEX "devices_lifecycle_status_idx" ON "devices" USING btree ("org_id",("status"->'lifecycle'->>'status'),"name");