// The application lifecycle overrides (db/schema/app-overrides.ts): written by the start/stop/restart actions of
// devices and fleets, read by the render task. Owned here because they only ever shape a device's render.
import { sql } from "drizzle-orm";
import { appOverrides } from "../../db/schema/app-overrides.js";
import { bare, epochMicros, rowsOf, textArray, type Executor } from "../platform/db.js";

export type OverrideOwner = "Device" | "Fleet";
export type DesiredState = "running" | "stopped";

/** One stored override, as the renderer applies it. */
export interface AppOverride {
  ownerKind: OverrideOwner;
  ownerName: string;
  appName: string;
  desiredState: DesiredState | null;
  /** When desiredState was set, in microseconds since the epoch (exact, so two overrides compare reliably). */
  stateSetAt: bigint | null;
  restartGeneration: number;
}

interface Row {
  owner_kind: OverrideOwner;
  owner_name: string;
  app_name: string;
  desired_state: DesiredState | null;
  set_at: string | null;
  restart_generation: number;
}

const o = appOverrides;
const toOverride = (r: Row): AppOverride => ({
  ownerKind: r.owner_kind,
  ownerName: r.owner_name,
  appName: r.app_name,
  desiredState: r.desired_state,
  stateSetAt: r.set_at === null ? null : BigInt(r.set_at),
  restartGeneration: Number(r.restart_generation),
});
const columns = sql`${o.ownerKind}, ${o.ownerName}, ${o.appName}, ${o.desiredState}, ${epochMicros(o.stateSetAt)} as set_at, ${o.restartGeneration}`;

export function createAppOverrideStore(db: Executor) {
  return {
    /** Sets the desired state of one application (start/stop); the time it was set is the statement's clock. */
    async setState(tx: Executor, orgId: string, kind: OverrideOwner, owner: string, app: string, state: DesiredState): Promise<void> {
      await tx.execute(sql`insert into ${o} (${bare(o.orgId)}, ${bare(o.ownerKind)}, ${bare(o.ownerName)}, ${bare(o.appName)},
          ${bare(o.desiredState)}, ${bare(o.stateSetAt)})
        values (${orgId}, ${kind}, ${owner}, ${app}, ${state}, clock_timestamp())
        on conflict (org_id, owner_kind, owner_name, app_name)
        do update set ${bare(o.desiredState)} = excluded.desired_state, ${bare(o.stateSetAt)} = excluded.state_set_at`);
    },

    /** Bumps the restart generation of one device application; returns the new generation. */
    async bumpRestart(tx: Executor, orgId: string, device: string, app: string): Promise<number> {
      const [row] = await rowsOf<{ restart_generation: number }>(
        tx,
        sql`insert into ${o} (${bare(o.orgId)}, ${bare(o.ownerKind)}, ${bare(o.ownerName)}, ${bare(o.appName)}, ${bare(o.restartGeneration)})
          values (${orgId}, 'Device', ${device}, ${app}, 1)
          on conflict (org_id, owner_kind, owner_name, app_name)
          do update set ${bare(o.restartGeneration)} = ${o.restartGeneration} + 1
          returning ${o.restartGeneration}`,
      );
      return Number(row.restart_generation);
    },

    /** The overrides of the named devices and of the named fleets of one org. */
    async forRender(orgId: string, devices: string[], fleets: string[], exec: Executor = db): Promise<AppOverride[]> {
      if (!devices.length && !fleets.length) return [];
      const rows = await rowsOf<Row>(
        exec,
        sql`select ${columns} from ${o} where ${o.orgId} = ${orgId} and (
          (${o.ownerKind} = 'Device' and ${o.ownerName} = any(${textArray(devices)}))
          or (${o.ownerKind} = 'Fleet' and ${o.ownerName} = any(${textArray(fleets)})))`,
      );
      return rows.map(toOverride);
    },

    /** Drops the overrides of a device or fleet that is deleted (a new one of the same name starts clean). */
    async deleteOwner(tx: Executor, orgId: string, kind: OverrideOwner, owner: string): Promise<void> {
      await tx.execute(sql`delete from ${o} where ${o.orgId} = ${orgId} and ${o.ownerKind} = ${kind} and ${o.ownerName} = ${owner}`);
    },
  };
}

export type AppOverrideStore = ReturnType<typeof createAppOverrideStore>;
