// Standalone devices (no owner) as the readers of repositories see them: those whose spec reads a changed repository
// (rendered again), those that read a git dependency (the dependency sync), and the sync's bump of the commits it
// records on them: chunks locked `order by name for update` in the caller's transaction, written by one statement
// with their events in the same transaction.
import { sql } from "drizzle-orm";
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { deviceRenders } from "../../db/schema/device-renders.js";
import { devices } from "../../db/schema/resources.js";
import { textArray, type Executor } from "../platform/db.js";
import { insertEvents, type NewEvent } from "../platform/event-store.js";
import { readsRepositoriesSql } from "../repositories/repository-store.js";

/** A standalone device whose spec reads a git dependency. */
export interface GitDependentDevice {
  name: string;
  annotations: Record<string, string>;
  spec: DeviceSpecJson;
  generation: string;
  /** Creation time in microseconds since the epoch, as text. */
  created: string;
  /** Whether it has been rendered. */
  rendered: boolean;
}

/** A standalone device as locked for the dependency sync's write. */
export interface LockedStandalone {
  name: string;
  annotations: Record<string, string>;
  /** As text: compared with the generation read before the lock. */
  generation: string;
}

/** Statements on standalone devices; `db` is the database (or a transaction) reads run on. Part of the device store. */
export function createDeviceStandaloneStore(db: Executor) {
  return {
    /** The org's devices without an owner whose spec reads one of `repositories`, in name order. */
    async standaloneReadingRepositories(orgId: string, repositories: readonly string[]) {
      const reads = readsRepositoriesSql(repositories, (config) => ({ config }));
      const r = await db.execute<{ name: string; spec: DeviceSpecJson }>(
        sql`select name, spec from ${devices} where org_id = ${orgId} and owner is null and (${reads}) order by name`,
      );
      return r.rows;
    },

    /** The org's standalone devices (or the one named) whose spec reads a git dependency, in name order. */
    async standaloneReadingGit(orgId: string, device?: string): Promise<GitDependentDevice[]> {
      const scope = device === undefined ? sql`true` : sql`name = ${device}`;
      const r = await db.execute<{
        name: string;
        annotations: Record<string, string>;
        spec: DeviceSpecJson;
        generation: string | number;
        created: string;
        rendered: boolean;
      }>(sql`select d.name, d.annotations, d.spec, d.generation, (extract(epoch from d.created_at) * 1000000)::bigint::text as created,
        exists (select 1 from ${deviceRenders} r where r.org_id = d.org_id and r.name = d.name) as rendered
      from ${devices} d where d.org_id = ${orgId} and ${scope} and d.owner is null and d.spec @> '{"config":[{"gitRef":{}}]}'::jsonb order by d.name`);
      return r.rows.map((d) => ({ ...d, generation: String(d.generation) }));
    },

    /** Locks those of the named devices that are still standalone, in name order, until `tx` ends. */
    async lockStandalone(tx: Executor, orgId: string, names: string[]): Promise<LockedStandalone[]> {
      const r = await tx.execute<{ name: string; annotations: Record<string, string>; generation: string | number }>(
        sql`select name, annotations, generation from ${devices}
        where org_id = ${orgId} and owner is null and name = any(${textArray(names)}) order by name for update`,
      );
      return r.rows.map((d) => ({ ...d, generation: String(d.generation) }));
    },

    /**
     * Writes new annotations of devices locked by `tx` (the dependency sync's recorded commits and probe failure
     * streaks) in one statement, with `events`.
     */
    async setAnnotations(
      tx: Executor,
      orgId: string,
      updates: { name: string; annotations: Record<string, string> }[],
      events: readonly NewEvent[],
    ): Promise<void> {
      if (updates.length) {
        await tx.execute(sql`update ${devices} d set annotations = u.annotations, resource_version = flightctl_next_version()
            from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as u(name text, annotations jsonb)
           where d.org_id = ${orgId} and d.name = u.name`);
      }
      await insertEvents(tx, orgId, events);
    },
  };
}
