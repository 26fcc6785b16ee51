// Rendered specs: read by the agent endpoint, written by the render task. A write that changes the content bumps
// the version and notifies every API replica (pg_notify, delivered at commit).
import { sql } from "drizzle-orm";
import { textArray } from "../platform/pg-array.js";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Db, Executor } from "../platform/resource/resource-store.js";

export const RENDERED_CHANNEL = "flightctl_rendered";

export interface RenderRow {
  renderedVersion: number;
  specHash: string;
  spec: JsonObject;
}

export function createRenderStore(db: Db) {
  return {
    async get(orgId: string, name: string, exec: Executor = db): Promise<RenderRow | undefined> {
      const r = await exec.execute(
        sql`select rendered_version, spec_hash, spec from device_renders where org_id = ${orgId} and name = ${name}`,
      );
      const row = r.rows[0] as { rendered_version: string; spec_hash: string; spec: JsonObject } | undefined;
      return row && { renderedVersion: Number(row.rendered_version), specHash: row.spec_hash, spec: row.spec };
    },

    /** Several renders in one query, in the order of `keys` (undefined where none). */
    async getMany(keys: readonly { orgId: string; name: string }[]): Promise<(RenderRow | undefined)[]> {
      const r = await db.execute(sql`select k.i, r.rendered_version, r.spec_hash, r.spec
          from unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.name))}) with ordinality as k(org_id, name, i)
          join device_renders r on r.org_id = k.org_id and r.name = k.name`);
      const out: (RenderRow | undefined)[] = keys.map(() => undefined);
      for (const row of r.rows as { i: string; rendered_version: string; spec_hash: string; spec: JsonObject }[]) {
        out[Number(row.i) - 1] = { renderedVersion: Number(row.rendered_version), specHash: row.spec_hash, spec: row.spec };
      }
      return out;
    },

    /** Stores several renders of one org; returns the new version of each one whose hash changed (and notifies them). */
    async putMany(tx: Executor, orgId: string, items: { name: string; spec: JsonObject; hash: string }[]): Promise<Map<string, number>> {
      if (!items.length) return new Map();
      const r = await tx.execute(sql`insert into device_renders (org_id, name, rendered_version, spec_hash, spec)
          select ${orgId}, i.name, 1, i.hash, i.spec from jsonb_to_recordset(${JSON.stringify(items)}::jsonb) as i(name text, hash text, spec jsonb)
        on conflict (org_id, name) do update
          set rendered_version = device_renders.rendered_version + 1, spec_hash = excluded.spec_hash, spec = excluded.spec, rendered_at = now()
          where device_renders.spec_hash <> excluded.spec_hash
        returning name, rendered_version`);
      const changed = new Map((r.rows as { name: string; rendered_version: string }[]).map((x) => [x.name, Number(x.rendered_version)]));
      if (changed.size) {
        const payloads = [...changed].map(([name, v]) => `${orgId}/${name}/${v}`);
        await tx.execute(sql`select pg_notify(${RENDERED_CHANNEL}, p) from unnest(${textArray(payloads)}) p`);
      }
      return changed;
    },

    async delete(tx: Executor, orgId: string, name: string): Promise<void> {
      await tx.execute(sql`delete from device_renders where org_id = ${orgId} and name = ${name}`);
    },
  };
}

export type RenderStore = ReturnType<typeof createRenderStore>;
