CREATE TABLE "console_sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"org_id" uuid NOT NULL,
	"device" text COLLATE "C" NOT NULL,
	"actor" text NOT NULL,
	"metadata" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"attached_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"close" jsonb,
	"exit_code" integer,
	"recording" text,
	"recording_bytes" bigint DEFAULT 0 NOT NULL,
	"recording_truncated" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE INDEX "console_sessions_device_idx" ON "console_sessions" USING btree ("org_id","device","created_at");--> statement-breakpoint
CREATE INDEX "console_sessions_created_idx" ON "console_sessions" USING btree ("created_at");