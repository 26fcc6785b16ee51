// The SQL of backup and restore: what the server is (version, schema, who is connected), the database-level steps of a
// restore (create, swap by rename, drop). The preparation of the restored devices is prepare-devices.ts.
import type pg from "pg";

/** application_name of the tools' own connections, so the running-service check can leave them out. */
export const TOOL_APPLICATION = "flightctl-backup-restore";

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
