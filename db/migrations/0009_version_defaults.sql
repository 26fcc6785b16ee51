ALTER TABLE "auth_providers" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "certificate_signing_requests" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "devices" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "enrollment_requests" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "fleets" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "organizations" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "repositories" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "resource_syncs" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();--> statement-breakpoint
ALTER TABLE "template_versions" ALTER COLUMN "resource_version" SET DEFAULT flightctl_next_version();