// Rendered specs: read by the agent endpoint, written by the render task. A write that changes the content bumps
// the version and notifies every API replica (pg_notify, delivered at commit).
import { sql } from "drizzle-orm";
import { alias } from "drizzle-orm/pg-core";
import type { DeviceSpecJson } from "../../gen/flightctl/v1beta1/device_pb.js";
import { deviceRenders } from "../../db/schema/device-renders.js";
import { devices } from "../../db/schema/resources.js";
import { deviceKeysTable } from "./device-exists-store.js";
import { bare, precompiled, rowsOf, sqlNames, textArray, type Db, type Executor } from "../platform/db.js";

export const RENDERED_CHANNEL = "flightctl_rendered";

export interface RenderRow {
  renderedVersion: number;
  specHash: string;
  spec: DeviceSpecJson;
}

/** A device_renders row as selected here. */
interface Selected {
  rendered_version: string;
  spec_hash: string;
  spec: DeviceSpecJson;
}

const r = deviceRenders;
const d = alias(devices, "d");
/** The one-device read's parts, rendered once (precompiled): every send on a device's stream reads it. */
const rn = sqlNames(r);
const selectOne = precompiled(sql`select ${r.renderedVersion}, ${r.specHash}, ${r.spec} from ${r}`);
const toRow = (row: Selected): RenderRow => ({ renderedVersion: Number(row.rendered_version), specHash: row.spec_hash, spec: row.spec });

export function createRenderStore(db: Db) {
  return {
    async get(orgId: string, name: string, exec: Executor = db): Promise<RenderRow | undefined> {
      const [row] = await rowsOf<Selected>(exec, sql`${selectOne} where ${rn.orgId} = ${orgId} and ${rn.name} = ${name}`);
      return row && toRow(row);
    },

    /** Several renders in one query, in the order of `keys` (undefined where none). */
    async getMany(keys: readonly { orgId: string; name: string }[]): Promise<(RenderRow | undefined)[]> {
      const rows = await rowsOf<Selected & { i: string }>(
        db,
        sql`select k.i, ${r.renderedVersion}, ${r.specHash}, ${r.spec}
          from ${deviceKeysTable(keys)}
          join ${r} on ${r.orgId} = k.org_id and ${r.name} = k.name`,
      );
      const out: (RenderRow | undefined)[] = keys.map(() => undefined);
      for (const row of rows) out[Number(row.i) - 1] = toRow(row);
      return out;
    },

    /**
     * Whether each device exists, and its render (undefined where none), in the order of `keys`: a stream's first
     * read, which is also its device's existence check (the agent gate leaves it here: one statement at a stream's
     * open instead of two).
     */
    async getManyOfDevices(keys: readonly { orgId: string; name: string }[]): Promise<{ exists: boolean; render?: RenderRow }[]> {
      const rows = await rowsOf<{ i: string; rendered_version: string | null; spec_hash: string; spec: DeviceSpecJson }>(
        db,
        sql`select k.i, ${r.renderedVersion}, ${r.specHash}, ${r.spec}
          from ${deviceKeysTable(keys)}
          join ${devices} d on ${d.orgId} = k.org_id and ${d.name} = k.name
          left join ${r} on ${r.orgId} = k.org_id and ${r.name} = k.name`,
      );
      const out: { exists: boolean; render?: RenderRow }[] = keys.map(() => ({ exists: false }));
      for (const row of rows)
        out[Number(row.i) - 1] = { exists: true, render: row.rendered_version === null ? undefined : toRow(row as Selected) };
      return out;
    },

    /** Stores several renders of one org; returns the new version of each one whose hash changed (and notifies them). */
    async putMany(
      tx: Executor,
      orgId: string,
      items: { name: string; spec: DeviceSpecJson; hash: string }[],
    ): Promise<Map<string, number>> {
      if (!items.length) return new Map();
      const written = await rowsOf<{ name: string; rendered_version: string }>(
        tx,
        sql`insert into ${r} (${bare(r.orgId)}, ${bare(r.name)}, ${bare(r.renderedVersion)}, ${bare(r.specHash)}, ${bare(r.spec)})
          select ${orgId}, i.name, 1, i.hash, i.spec from jsonb_to_recordset(${JSON.stringify(items)}::jsonb) as i(name text, hash text, spec jsonb)
        on conflict (org_id, name) do update
          set ${bare(r.renderedVersion)} = ${r.renderedVersion} + 1, ${bare(r.specHash)} = excluded.spec_hash, ${bare(r.spec)} = excluded.spec,
              ${bare(r.renderedAt)} = now()
          where ${r.specHash} <> excluded.spec_hash
        returning ${r.name}, ${r.renderedVersion}`,
      );
      const changed = new Map(written.map((x) => [x.name, Number(x.rendered_version)]));
      if (changed.size) {
        const payloads = [...changed].map(([name, v]) => `${orgId}/${name}/${v}`);
        await tx.execute(sql`select pg_notify(${RENDERED_CHANNEL}, p) from unnest(${textArray(payloads)}) p`);
      }
      return changed;
    },

    /**
     * Moves a device's render above `version` (the one the device runs), same content, and notifies: a device resumed
     * after a restore conflict then takes the service's spec, whose own version may be at or below the device's.
     */
    async raiseAbove(tx: Executor, orgId: string, name: string, version: number): Promise<number | undefined> {
      const [row] = await rowsOf<{ rendered_version: string }>(
        tx,
        sql`update ${r} set ${bare(r.renderedVersion)} = ${version + 1}, ${bare(r.renderedAt)} = now()
          where ${r.orgId} = ${orgId} and ${r.name} = ${name} and ${r.renderedVersion} <= ${version}
          returning ${r.renderedVersion}`,
      );
      if (!row) return undefined;
      await tx.execute(sql`select pg_notify(${RENDERED_CHANNEL}, ${`${orgId}/${name}/${row.rendered_version}`})`);
      return Number(row.rendered_version);
    },

    async delete(tx: Executor, orgId: string, name: string): Promise<void> {
      await tx.execute(sql`delete from ${r} where ${r.orgId} = ${orgId} and ${r.name} = ${name}`);
    },

    /** Deletes the renders of the named devices of one org (devices that are gone). */
    async deleteMany(tx: Executor, orgId: string, names: string[]): Promise<void> {
      if (!names.length) return;
      await tx.execute(sql`delete from ${r} where ${r.orgId} = ${orgId} and ${r.name} = any(${textArray(names)})`);
    },
  };
}

export type RenderStore = ReturnType<typeof createRenderStore>;
