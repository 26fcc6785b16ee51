// The SQL of backup and restore: what the server is (version, schema, who is connected), the database-level steps of a
// restore (create, swap by rename, drop) and flightctl's preparation of the restored devices for their reconnection.
import type pg from "pg";
import { sql } from "drizzle-orm";
import { devices, enrollmentRequests } from "../../db/schema/resources.js";
import { deviceLastSeen } from "../../db/schema/device-last-seen.js";
import { DEFAULT_ORG_ID } from "../../db/schema/organizations.js";
import { ANNOTATION_AWAITING_RECONNECT } from "../devices/device-status.js";
import { insertEvent } from "../platform/event-store.js";
import { rowsOf, type Db } from "../platform/db.js";

/** application_name of the tools' own connections, so the running-service check can leave them out. */
export const TOOL_APPLICATION = "flightctl-backup-restore";

/** flightctl's summary info for a device waiting for its first contact after a restore. */
export const AWAITING_RECONNECT_INFO = "Device has not reconnected since restore to confirm its current state.";

export interface Connection {
  application: string;
  client: string;
  count: number;
}

/** Queries on a plain client (the maintenance database or the one being backed up). */
export function createServerStore(client: pg.ClientBase) {
  const ident = (name: string) => client.escapeIdentifier(name);
  return {
    /** The server's major version (15, 18, ...). */
    async serverMajor(): Promise<number> {
      const r = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
      return Math.floor(Number(r.rows[0].v) / 10000);
    },

    /** drizzle's journal `when` of the newest migration applied here (undefined: none). */
    async latestMigrationWhen(): Promise<number | undefined> {
      const t = await client.query<{ t: string | null }>("select to_regclass('drizzle.__drizzle_migrations')::text as t");
      if (!t.rows[0].t) return undefined;
      const r = await client.query<{ last: string | null }>("select max(created_at)::text as last from drizzle.__drizzle_migrations");
      return r.rows[0].last === null ? undefined : Number(r.rows[0].last);
    },

    async databaseExists(name: string): Promise<boolean> {
      const r = await client.query("select 1 from pg_database where datname = $1", [name]);
      return r.rowCount === 1;
    },

    /** Other sessions on `database` (not this tool's), grouped by application name and client address. */
    async connections(database: string): Promise<Connection[]> {
      const r = await client.query<{ application: string; client: string; n: number }>(
        `select coalesce(nullif(application_name, ''), '(no application name)') as application,
                coalesce(host(client_addr), 'local socket') as client, count(*)::int as n
           from pg_stat_activity
          where datname = $1 and pid <> pg_backend_pid() and coalesce(application_name, '') <> $2
          group by 1, 2 order by 1, 2`,
        [database, TOOL_APPLICATION],
      );
      return r.rows.map((x) => ({ application: x.application, client: x.client, count: x.n }));
    },

    /**
     * Starts a hot physical backup (the embedded default): a temporary replication slot keeps every WAL segment from
     * here on (without WAL archiving, a checkpoint during the copy could otherwise recycle one the copy needs), then
     * pg_backup_start. Both belong to this session: it must stay open until stopPhysicalBackup.
     */
    async startPhysicalBackup(slot: string): Promise<void> {
      await client.query("select pg_create_physical_replication_slot($1, true, true)", [slot]);
      await client.query("select pg_backup_start('flightctl-backup', true)");
    },

    /** Ends it; the backup_label Postgres must find in the copy to recover it. */
    async stopPhysicalBackup(): Promise<{ label: string; tablespaceMap: string }> {
      const r = await client.query<{ labelfile: string; spcmapfile: string }>("select labelfile, spcmapfile from pg_backup_stop(false)");
      return { label: r.rows[0].labelfile, tablespaceMap: r.rows[0].spcmapfile };
    },

    async createDatabase(name: string): Promise<void> {
      await client.query(`create database ${ident(name)}`);
    },

    async dropDatabase(name: string): Promise<void> {
      await client.query(`drop database if exists ${ident(name)} with (force)`);
    },

    async renameDatabase(from: string, to: string): Promise<void> {
      await client.query(`alter database ${ident(from)} rename to ${ident(to)}`);
    },

    /**
     * `fresh` becomes `target`, and `target` becomes `old`, in one transaction (both renames or neither). Postgres refuses
     * while anyone is connected to either database, so a service that started meanwhile makes this fail cleanly.
     */
    async swapDatabases(target: string, fresh: string, old: string): Promise<void> {
      await client.query("begin");
      try {
        await client.query(`alter database ${ident(target)} rename to ${ident(old)}`);
        await client.query(`alter database ${ident(fresh)} rename to ${ident(target)}`);
        await client.query("commit");
      } catch (e) {
        await client.query("rollback").catch(() => {});
        throw e;
      }
    },
  };
}

export interface PreparedCounts {
  devices: number;
  enrollmentRequests: number;
}

/**
 * flightctl's post-restore preparation, in one transaction on the restored database: every device that is not
 * decommissioned waits for its agent (annotation, AwaitingReconnect summary, updated Unknown, last seen cleared),
 * unapproved enrollment requests are marked the same way, and a SystemRestored event says how many were touched.
 */
export async function prepareRestoredDevices(db: Db): Promise<PreparedCounts> {
  const mark = JSON.stringify({ [ANNOTATION_AWAITING_RECONNECT]: "true" });
  const summary = JSON.stringify({ status: "AwaitingReconnect", info: AWAITING_RECONNECT_INFO });
  return db.transaction(async (tx) => {
    const touched = await rowsOf<{ org_id: string; name: string }>(
      tx,
      sql`update ${devices}
            set annotations = ${devices.annotations} || ${mark}::jsonb,
                status = jsonb_set(jsonb_set(coalesce(${devices.status}, '{}'::jsonb), '{summary}', ${summary}::jsonb),
                                   '{updated}', '{"status":"Unknown"}'::jsonb),
                resource_version = default
          where coalesce(${devices.status}->'lifecycle'->>'status', '') not in ('Decommissioned', 'Decommissioning')
            and ${devices.deletionTimestamp} is null
            and ${devices.annotations}->>${ANNOTATION_AWAITING_RECONNECT} is distinct from 'true'
        returning ${devices.orgId} as org_id, ${devices.name} as name`,
    );
    // Every device, not only those touched: nobody has been seen by the restored service yet.
    await tx.execute(sql`delete from ${deviceLastSeen}`);
    const requests = await rowsOf<{ n: number }>(
      tx,
      sql`with marked as (
            update ${enrollmentRequests}
               set annotations = ${enrollmentRequests.annotations} || ${mark}::jsonb, resource_version = default
             where coalesce(${enrollmentRequests.status}->'approval'->>'approved', '') <> 'true'
               and ${enrollmentRequests.annotations}->>${ANNOTATION_AWAITING_RECONNECT} is distinct from 'true'
            returning 1)
          select count(*)::int as n from marked`,
    );
    const counts = { devices: touched.length, enrollmentRequests: requests[0].n };
    await insertEvent(tx, DEFAULT_ORG_ID, {
      reason: "SystemRestored",
      type: "Normal",
      message: `System restored successfully. Updated ${counts.devices} devices and ${counts.enrollmentRequests} enrollment requests for post-restoration preparation.`,
      actor: "service:flightctl-restore",
      involvedObject: { kind: "System", name: "database" },
      sourceComponent: "flightctl-restore",
    });
    return counts;
  });
}
