CREATE TABLE "app_overrides" (
	"org_id" uuid NOT NULL,
	"owner_kind" text NOT NULL,
	"owner_name" text COLLATE "C" NOT NULL,
	"app_name" text COLLATE "C" NOT NULL,
	"desired_state" text,
	"state_set_at" timestamp with time zone,
	"restart_generation" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "app_overrides_pkey" PRIMARY KEY("org_id","owner_kind","owner_name","app_name")
);
