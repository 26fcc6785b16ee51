// Rendered specs: read by the agent endpoint, written by the render task. A write that changes the content bumps
// the version and notifies every API replica (pg_notify, delivered at commit).
import { sql } from "drizzle-orm";
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
      const r = await exec.execute(sql`select rendered_version, spec_hash, spec from device_renders where org_id = ${orgId} and name = ${name}`);
      const row = r.rows[0] as { rendered_version: string; spec_hash: string; spec: JsonObject } | undefined;
      return row && { renderedVersion: Number(row.rendered_version), specHash: row.spec_hash, spec: row.spec };
    },

    /** Stores a render if its hash differs; returns the (new or unchanged) version. Notifies on change. */
    async put(tx: Executor, orgId: string, name: string, spec: JsonObject, hash: string): Promise<{ version: number; changed: boolean }> {
      const r = await tx.execute(sql`insert into device_renders (org_id, name, rendered_version, spec_hash, spec)
          values (${orgId}, ${name}, 1, ${hash}, ${JSON.stringify(spec)}::jsonb)
        on conflict (org_id, name) do update
          set rendered_version = device_renders.rendered_version + 1, spec_hash = excluded.spec_hash, spec = excluded.spec, rendered_at = now()
          where device_renders.spec_hash <> excluded.spec_hash
        returning rendered_version`);
      const row = r.rows[0] as { rendered_version: string } | undefined;
      if (!row) return { version: (await this.get(orgId, name, tx))!.renderedVersion, changed: false };
      const version = Number(row.rendered_version);
      await tx.execute(sql`select pg_notify(${RENDERED_CHANNEL}, ${`${orgId}/${name}/${version}`})`);
      return { version, changed: true };
    },

    async delete(tx: Executor, orgId: string, name: string): Promise<void> {
      await tx.execute(sql`delete from device_renders where org_id = ${orgId} and name = ${name}`);
    },
  };
}

export type RenderStore = ReturnType<typeof createRenderStore>;
