// Several events written by one statement, in the caller's transaction: the form every set-based store method of the
// controllers uses (the lead may move this beside insertEvent in server/events/event-store.ts).
import { insertEventsSql, type NewEvent } from "../platform/event-store.js";
import type { Executor } from "../platform/resource/resource-store.js";

/** Inserts `events` of organization `orgId` in one statement; nothing (not even a round trip) when there are none. */
export async function insertEvents(exec: Executor, orgId: string, events: readonly NewEvent[]): Promise<void> {
  if (events.length) await exec.execute(insertEventsSql(orgId, [...events]));
}
