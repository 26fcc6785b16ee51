CREATE TABLE "metrics_snapshots" (
	"id" text PRIMARY KEY NOT NULL,
	"computed_at" timestamp with time zone NOT NULL,
	"samples" jsonb NOT NULL
);
