// The typed database: drizzle on the node-postgres pool with the tables of db/schema, plus the few SQL helpers every
// store shares. Stores take a Db (or, inside a transaction, an Executor); nothing else in server/ writes SQL.
import { getTableColumns, sql, type Column, type SQL } from "drizzle-orm";
import { drizzle, type NodePgDatabase, type NodePgQueryResultHKT } from "drizzle-orm/node-postgres";
import { PgDialect, type PgDatabase, type PgTable } from "drizzle-orm/pg-core";
import type { ClientBase, Pool } from "pg";
import * as schema from "../../db/schema/index.js";
import { resilientPool } from "./pg-pool.js";

/** The database, typed on db/schema. */
export type Db = NodePgDatabase<typeof schema>;

/** A transaction or the database itself: anything that can run statements (and open a nested transaction). */
export type Executor = PgDatabase<NodePgQueryResultHKT, typeof schema>;

/**
 * Builds the typed database on a pool (one per process; tests build one per test database). A read-only statement
 * whose connection was lost runs once more on another connection, and a client whose connection was lost goes back
 * to the pool (pg-pool.ts resilientPool).
 */
export function createDb(pool: Pool): Db {
  return drizzle(resilientPool(pool), { schema });
}

/**
 * Selects a timestamptz as ISO 8601 text: drizzle's node-postgres driver hands timestamps back as Postgres text
 * ("2024-01-02 03:04:05+00"), which JavaScript's Date does not parse reliably. A column of a table keeps its SQL name
 * as the output name; a string names a column of the statement's only table (legacy form).
 */
export function isoTime(column: Column | string): SQL {
  const name = typeof column === "string" ? column : column.name;
  const ref = typeof column === "string" ? sql`${sql.identifier(column)}` : sql`${column}`;
  return sql`to_json(${ref}) #>> '{}' as ${sql.identifier(name)}`;
}

/** A timestamptz as microseconds since the epoch, as text: exact, unlike a Date, so freeze keys compare equal across reads. */
export const epochMicros = (column: SQL | Column): SQL => sql`(extract(epoch from ${column}) * 1000000)::bigint::text`;

/**
 * A fragment without parameters rendered to SQL text once. Building a statement from drizzle's table and column
 * objects resolves each of them again (about 15 µs for a resource read, against 2 µs from text), and the hot
 * statements (status reports, reads and writes of one resource, events) run thousands of times a second; stores
 * build those from fragments rendered once instead.
 */
export function precompiled(fragment: SQL): SQL {
  const q = new PgDialect().sqlToQuery(fragment);
  if (q.params.length) throw new Error(`precompiled SQL must not take parameters: ${q.sql}`);
  return sql.raw(q.sql);
}

type ColumnNames<T extends PgTable> = { [K in keyof T["_"]["columns"]]: SQL };

/** A table's names rendered once (see precompiled): `$table`, and every column qualified ("devices"."org_id"). */
export function sqlNames<T extends PgTable>(table: T): { $table: SQL } & ColumnNames<T> {
  const names: Record<string, SQL> = { $table: precompiled(sql`${table}`) };
  for (const [key, column] of Object.entries(getTableColumns(table))) names[key] = precompiled(sql`${column}`);
  return names as { $table: SQL } & ColumnNames<T>;
}

/** A table's bare column names rendered once: for INSERT column lists and UPDATE SET targets. */
export function sqlBareNames<T extends PgTable>(table: T): ColumnNames<T> {
  const names: Record<string, SQL> = {};
  for (const [key, column] of Object.entries(getTableColumns(table))) names[key] = precompiled(bare(column));
  return names as ColumnNames<T>;
}

/** A column's bare SQL name: for INSERT column lists and UPDATE SET targets, where a table-qualified name is invalid. */
export const bare = (column: Column): SQL => sql`${sql.identifier(column.name)}`;

/** A JSON value as a jsonb parameter (SQL null for null or undefined). */
export const jsonb = (v: unknown): SQL => (v === null || v === undefined ? sql`null` : sql`${JSON.stringify(v)}::jsonb`);

/** Runs a statement and returns its rows typed as `T` (the one place raw rows get a type). */
export async function rowsOf<T>(exec: Pick<Executor, "execute">, query: SQL): Promise<T[]> {
  return (await exec.execute(query)).rows as T[];
}

/** Subscribes a dedicated connection to a notification channel (pg_notify); `channel` must be a plain identifier. */
export async function listen(client: ClientBase, channel: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`bad channel name ${channel}`);
  await client.query(`listen ${channel}`);
}

/** A Postgres text[] literal (quoted elements, so any device name is safe). */
export function pgTextArray(items: string[]): string {
  return `{${items.map((s) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`).join(",")}}`;
}

/**
 * `items` as one text[] parameter: drizzle's sql`` spreads a JS array into one parameter per element, which breaks
 * `= any(...)` and makes statements with thousands of names slow to prepare.
 */
export const textArray = (items: string[]): SQL => sql`${pgTextArray(items)}::text[]`;

/**
 * Whether the database answers a trivial statement within `timeoutMs` (the readiness probe: it must answer quickly
 * even when connecting hangs, e.g. a host that drops packets).
 */
export async function databaseReady(pool: Pool, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const answered = pool.query("select 1").then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
  }
}
