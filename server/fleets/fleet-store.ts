// The fleets table as the fleet controller, the rollout, the dependency sync and the ResourceSync controller write it:
// status conditions, the controller's annotations (current template version, rollout state), ownership by a
// ResourceSync. Each write takes a new resource_version and writes its events in the same call. (Create, update and
// delete through the API go through the generic resource store.) Convention of the controllers' stores: a statement
// that must share the caller's transaction (a row lock, a write with its events) takes it as its first argument;
// reads run on the store's executor unless given another one last.
import { sql } from "drizzle-orm";
import type { FleetSpecJson, FleetStatusJson } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { fleets } from "../../db/schema/index.js";
import { insertEvents, type NewEvent } from "../platform/event-store.js";
import { textArray } from "../platform/pg-array.js";
import type { Executor } from "../platform/resource/resource-store.js";
import { readsRepositoriesSql } from "../repositories/repository-store.js";

/** A fleet as the controllers read it. */
export interface FleetRow {
  name: string;
  /** As text: compared with the generation read again under the row lock. */
  generation: string;
  spec: FleetSpecJson;
  status: FleetStatusJson | null;
  annotations: Record<string, string>;
}

/** The controller-owned parts of a fleet to write; what is left out stays. */
export interface FleetChanges {
  status?: FleetStatusJson;
  annotations?: Record<string, string>;
}

type Row = {
  name: string;
  generation: string | number;
  spec: FleetSpecJson;
  status: FleetStatusJson | null;
  annotations: Record<string, string>;
};
const toFleet = (r: Row): FleetRow => ({ ...r, generation: String(r.generation) });

/** Fleet statements; `exec` is the database or the caller's transaction (each method also takes another one). */
export function createFleetStore(exec: Executor) {
  /** The org's fleets (or the named ones) in name order. */
  async function list(orgId: string, names?: string[], tx: Executor = exec): Promise<FleetRow[]> {
    const r = await tx.execute<Row>(sql`select name, generation, spec, status, annotations from ${fleets} where org_id = ${orgId}
      ${names ? sql`and name = any(${textArray(names)})` : sql``} order by name`);
    return r.rows.map(toFleet);
  }

  return {
    list,

    /** One fleet, or undefined. */
    async get(orgId: string, name: string, tx: Executor = exec): Promise<FleetRow | undefined> {
      return (await list(orgId, [name], tx))[0];
    },

    /** The fleet, locked until `tx` ends (writers of the controller's state serialize on it); undefined when gone. */
    async lock(tx: Executor, orgId: string, name: string): Promise<FleetRow | undefined> {
      const r = await tx.execute<Row>(
        sql`select name, generation, spec, status, annotations from ${fleets} where org_id = ${orgId} and name = ${name} for update`,
      );
      return r.rows.map(toFleet)[0];
    },

    /**
     * Writes the controller's state of a fleet (status and/or annotations; nothing when `changes` is undefined or
     * empty) with a new resource_version, and `events`, in `tx`.
     */
    async write(tx: Executor, orgId: string, name: string, changes: FleetChanges | undefined, events: readonly NewEvent[] = []) {
      const sets = [
        ...(changes?.status ? [sql`status = ${JSON.stringify(changes.status)}::jsonb`] : []),
        ...(changes?.annotations ? [sql`annotations = ${JSON.stringify(changes.annotations)}::jsonb`] : []),
      ];
      if (sets.length) {
        await tx.execute(sql`update ${fleets} set ${sql.join(sets, sql`, `)}, resource_version = flightctl_next_version()
          where org_id = ${orgId} and name = ${name}`);
      }
      await insertEvents(tx, orgId, events);
    },

    /**
     * Fleets per organization and rollout state (the reason of the RolloutInProgress condition; "Inactive" without one,
     * as flightctl), for the service metrics: one pass over the table.
     */
    async countByRolloutStatus(tx: Executor = exec): Promise<{ orgId: string; status: string; count: number }[]> {
      const r = await tx.execute<{ org: string; status: string; n: number }>(sql`
        select org_id::text as org,
               coalesce((select c->>'reason' from jsonb_array_elements(coalesce(status->'conditions', '[]'::jsonb)) c
                          where c->>'type' = 'RolloutInProgress' limit 1), 'Inactive') as status,
               count(*)::int as n
        from ${fleets} group by 1, 2`);
      return r.rows.map((row) => ({ orgId: row.org, status: row.status, count: row.n }));
    },

    /** Fleets of every org whose policy-driven rollout is active (the sweep restarts their tick chains). */
    async activeRollouts(tx: Executor = exec): Promise<{ orgId: string; name: string }[]> {
      const r = await tx.execute<{ org_id: string; name: string }>(sql`select org_id, name from ${fleets} where spec ? 'rolloutPolicy'
        and coalesce(status->'conditions', '[]'::jsonb) @> '[{"type":"RolloutInProgress","reason":"Active"}]'`);
      return r.rows.map((row) => ({ orgId: row.org_id, name: row.name }));
    },

    /** The org's fleets whose template reads one of `repositories`, in name order. */
    async readingRepositories(orgId: string, repositories: readonly string[], tx: Executor = exec) {
      const reads = readsRepositoriesSql(repositories, (config) => ({ template: { spec: { config } } }));
      const r = await tx.execute<{ name: string; spec: FleetSpecJson }>(
        sql`select name, spec from ${fleets} where org_id = ${orgId} and (${reads}) order by name`,
      );
      return r.rows;
    },

    /** Fleets owned by `owner` or named in `names` (a ResourceSync's current and wanted fleets), in name order. */
    async ownedOrNamed(tx: Executor, orgId: string, owner: string, names: string[]) {
      const r = await tx.execute<{ name: string; owner: string | null }>(
        sql`select name, owner from ${fleets} where org_id = ${orgId} and (owner = ${owner} or name = any(${textArray(names)})) order by name`,
      );
      return r.rows;
    },

    /** Clears the owner of every fleet `owner` owns, with one event per fleet; returns their names. */
    async releaseOwnedBy(tx: Executor, orgId: string, owner: string, event: (fleet: string) => NewEvent): Promise<string[]> {
      const r = await tx.execute<{ name: string }>(sql`update ${fleets} set owner = null, resource_version = flightctl_next_version()
          where org_id = ${orgId} and owner = ${owner} returning name`);
      const released = r.rows.map((f) => f.name);
      await insertEvents(tx, orgId, released.map(event));
      return released;
    },
  };
}

export type FleetStore = ReturnType<typeof createFleetStore>;
