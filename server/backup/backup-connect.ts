// What backup and restore share about the database they talk to: a connection marked as the tool's own, the schema
// version it holds, and the time stamp that names archives and temporary databases.
import pg from "pg";
import { journal } from "../../db/migrate.js";
import { createServerStore, TOOL_APPLICATION } from "./backup-store.js";

/** YYYYMMDDTHHMMSSZ, as flightctl names its archives. */
export const stamp = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");

/** The schema's newest applied migration, named by this code's journal when it knows it. */
export async function schemaOf(client: pg.ClientBase): Promise<{ tag: string; when: number }> {
  const when = await createServerStore(client).latestMigrationWhen();
  if (when === undefined) throw new Error("the database has no schema migrations applied: it is not a flightctl database");
  return { tag: journal().find((e) => e.when === when)?.tag ?? "(unknown to this version)", when };
}

export async function connectTool(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: TOOL_APPLICATION });
  client.on("error", () => {});
  await client.connect();
  return client;
}
