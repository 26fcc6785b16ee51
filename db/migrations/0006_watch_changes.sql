CREATE TABLE "watch_changes" (
	"resource_version" bigint NOT NULL,
	"kind" text NOT NULL,
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"parent" text COLLATE "C",
	"op" text NOT NULL,
	"object" jsonb,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "watch_state" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"pruned_rv" bigint NOT NULL
);
--> statement-breakpoint
CREATE INDEX "watch_changes_kind_rv_idx" ON "watch_changes" USING btree ("kind","resource_version");--> statement-breakpoint
CREATE INDEX "watch_changes_at_idx" ON "watch_changes" USING btree ("at");--> statement-breakpoint
CREATE INDEX "auth_providers_rv_idx" ON "auth_providers" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "certificate_signing_requests_rv_idx" ON "certificate_signing_requests" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "devices_rv_idx" ON "devices" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "enrollment_requests_rv_idx" ON "enrollment_requests" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "fleets_rv_idx" ON "fleets" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "repositories_rv_idx" ON "repositories" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "resource_syncs_rv_idx" ON "resource_syncs" USING btree ("resource_version");--> statement-breakpoint
CREATE INDEX "template_versions_rv_idx" ON "template_versions" USING btree ("resource_version");