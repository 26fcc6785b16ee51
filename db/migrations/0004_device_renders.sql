CREATE TABLE "device_renders" (
	"org_id" uuid NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"rendered_version" bigint NOT NULL,
	"spec_hash" text NOT NULL,
	"spec" jsonb NOT NULL,
	"rendered_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "device_renders_pkey" PRIMARY KEY("org_id","name")
);
