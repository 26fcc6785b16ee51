CREATE SEQUENCE "public"."resource_version_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
CREATE TABLE "auth_providers" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "auth_providers_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "certificate_signing_requests" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "certificate_signing_requests_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "device_last_seen" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"last_seen" timestamp with time zone NOT NULL,
	CONSTRAINT "device_last_seen_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "devices_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "enrollment_requests" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "enrollment_requests_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"seq" bigserial PRIMARY KEY NOT NULL,
	"id" uuid DEFAULT gen_random_uuid() NOT NULL,
	"org_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
	"reason" text NOT NULL,
	"type" text NOT NULL,
	"involved_kind" text NOT NULL,
	"involved_name" text NOT NULL,
	"actor" text NOT NULL,
	"message" text NOT NULL,
	"source_component" text NOT NULL,
	"details" jsonb,
	"request_id" text,
	CONSTRAINT "events_id_key" UNIQUE("id")
);
--> statement-breakpoint
CREATE TABLE "fleets" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "fleets_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "organizations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"display_name" text DEFAULT '' NOT NULL,
	"external_id" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL
);
--> statement-breakpoint
CREATE TABLE "repositories" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "repositories_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "resource_syncs" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	CONSTRAINT "resource_syncs_pkey" PRIMARY KEY("org_id","name")
);
--> statement-breakpoint
CREATE TABLE "template_versions" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"annotations" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"owner" text,
	"generation" integer DEFAULT 1 NOT NULL,
	"resource_version" bigint DEFAULT nextval('resource_version_seq') NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deletion_timestamp" timestamp with time zone,
	"spec" jsonb,
	"status" jsonb,
	"fleet_name" text COLLATE "C" NOT NULL,
	CONSTRAINT "template_versions_pkey" PRIMARY KEY("org_id","fleet_name","name")
);
--> statement-breakpoint
CREATE INDEX "auth_providers_labels_gin" ON "auth_providers" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "auth_providers_org_owner_idx" ON "auth_providers" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "auth_providers_org_created_idx" ON "auth_providers" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "certificate_signing_requests_labels_gin" ON "certificate_signing_requests" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "certificate_signing_requests_org_owner_idx" ON "certificate_signing_requests" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "certificate_signing_requests_org_created_idx" ON "certificate_signing_requests" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "devices_labels_gin" ON "devices" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "devices_org_owner_idx" ON "devices" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "devices_org_created_idx" ON "devices" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "devices_summary_status_idx" ON "devices" USING btree ("org_id",("status"->'summary'->>'status'));--> statement-breakpoint
CREATE INDEX "devices_updated_status_idx" ON "devices" USING btree ("org_id",("status"->'updated'->>'status'));--> statement-breakpoint
CREATE INDEX "devices_apps_status_idx" ON "devices" USING btree ("org_id",("status"->'applicationsSummary'->>'status'));--> statement-breakpoint
CREATE INDEX "devices_lifecycle_status_idx" ON "devices" USING btree ("org_id",("status"->'lifecycle'->>'status'));--> statement-breakpoint
CREATE INDEX "devices_alias_idx" ON "devices" USING btree ("org_id",("labels"->>'alias'));--> statement-breakpoint
CREATE INDEX "enrollment_requests_labels_gin" ON "enrollment_requests" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "enrollment_requests_org_owner_idx" ON "enrollment_requests" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "enrollment_requests_org_created_idx" ON "enrollment_requests" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "events_org_seq_idx" ON "events" USING btree ("org_id","seq");--> statement-breakpoint
CREATE INDEX "events_org_involved_idx" ON "events" USING btree ("org_id","involved_kind","involved_name","seq");--> statement-breakpoint
CREATE INDEX "events_org_reason_idx" ON "events" USING btree ("org_id","reason","seq");--> statement-breakpoint
CREATE INDEX "events_created_idx" ON "events" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "fleets_labels_gin" ON "fleets" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "fleets_org_owner_idx" ON "fleets" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "fleets_org_created_idx" ON "fleets" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "fleets_os_image_idx" ON "fleets" USING btree ("org_id",("spec"->'template'->'spec'->'os'->>'image'));--> statement-breakpoint
CREATE INDEX "repositories_labels_gin" ON "repositories" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "repositories_org_owner_idx" ON "repositories" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "repositories_org_created_idx" ON "repositories" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "repositories_type_idx" ON "repositories" USING btree ("org_id",("spec"->>'type'));--> statement-breakpoint
CREATE INDEX "resource_syncs_labels_gin" ON "resource_syncs" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "resource_syncs_org_owner_idx" ON "resource_syncs" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "resource_syncs_org_created_idx" ON "resource_syncs" USING btree ("org_id","created_at");--> statement-breakpoint
CREATE INDEX "template_versions_labels_gin" ON "template_versions" USING gin ("labels");--> statement-breakpoint
CREATE INDEX "template_versions_org_owner_idx" ON "template_versions" USING btree ("org_id","owner");--> statement-breakpoint
CREATE INDEX "template_versions_org_created_idx" ON "template_versions" USING btree ("org_id","created_at");