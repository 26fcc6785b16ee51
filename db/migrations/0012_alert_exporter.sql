CREATE TABLE "alert_exporter_state" (
	"id" integer PRIMARY KEY NOT NULL,
	"cursor" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "alerts" (
	"org_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"resource" text NOT NULL,
	"alertname" text NOT NULL,
	"labels" jsonb NOT NULL,
	"annotations" jsonb NOT NULL,
	"starts_at" timestamp with time zone NOT NULL,
	"ends_at" timestamp with time zone,
	"dirty" boolean DEFAULT true NOT NULL,
	"event_seq" bigint NOT NULL,
	CONSTRAINT "alerts_pkey" PRIMARY KEY("org_id","kind","resource","alertname")
);
