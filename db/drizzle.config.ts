// drizzle-kit config: `npm run db:generate` writes SQL migrations for db/schema into db/migrations.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/index.ts",
  out: "./db/migrations",
  // Generation needs no database; DATABASE_URL is only for drizzle-kit's own push/studio, which we do not use.
  dbCredentials: { url: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres" },
  strict: true,
});
