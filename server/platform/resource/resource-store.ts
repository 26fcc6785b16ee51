// Generic Postgres store for every resource kind that has the common resource table shape (db/schema/resource.ts),
// built on the kind's drizzle table. Returns plain records (flightctl JSON parts), never Connect errors. Writes are
// compare-and-swap on resource_version, and each one writes its Event row in the same transaction.
import { sql, type SQL } from "drizzle-orm";
import type { JsonObject } from "@bufbuild/protobuf";
import * as resourceTables from "../../../db/schema/resources.js";
import { bare, isoTime, jsonb, precompiled, rowsOf, sqlBareNames, sqlNames, type Db, type Executor } from "../db.js";
import { alreadyExists, DomainError } from "../errors.js";
import { insertEvent, type NewEvent } from "../event-store.js";

// Kept here for callers written before platform/db.ts: the database types and isoTime live there now.
export { isoTime, type Db, type Executor };

/** The drizzle table of a resource kind (db/schema/resources.ts). */
export type ResourceTable = (typeof resourceTables)[keyof typeof resourceTables];

/** The parent column of child kinds' tables (TemplateVersion → fleet). */
const parentColumns = new Map<ResourceTable, typeof resourceTables.templateVersions.fleetName>([
  [resourceTables.templateVersions, resourceTables.templateVersions.fleetName],
]);

/** Where a resource lives: organization, name, and for child kinds the parent's name (TemplateVersion → fleet). */
export interface ResourceKey {
  orgId: string;
  name: string;
  parent?: string;
}

/** A stored resource in flightctl JSON parts; a kind's store may type spec and status (e.g. DeviceSpecJson). */
export interface ResourceRecord<Spec extends object = JsonObject, Status extends object = JsonObject> {
  name: string;
  parent?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  owner: string | null;
  generation: number;
  resourceVersion: string;
  createdAt: Date;
  deletionTimestamp: Date | null;
  spec: Spec | null;
  status: Status | null;
}

/** The mutable part of a record, as written by create/update. */
export type ResourceState<Spec extends object = JsonObject, Status extends object = JsonObject> = Pick<
  ResourceRecord<Spec, Status>,
  "labels" | "annotations" | "owner" | "generation" | "spec" | "status"
>;

export interface ListQuery {
  /** Extra conditions (label and field selectors compiled to SQL). */
  where: SQL[];
  /** Page size; the store fetches one more to know whether there is a next page. */
  limit: number;
  /** Keyset position: only names after this one. */
  after?: string;
  parent?: string;
  /** Items that remained after the previous page, when known: saves counting again. */
  remaining?: number;
}

export interface ListPage<Spec extends object = JsonObject, Status extends object = JsonObject> {
  records: ResourceRecord<Spec, Status>[];
  /** Set when more records match after this page. */
  remaining?: number;
}

/** Statements run in the write's transaction after the row is written (jobs, side tables). */
export type InTx<Spec extends object = JsonObject, Status extends object = JsonObject> = (
  tx: Executor,
  record: ResourceRecord<Spec, Status>,
  ctx: { key: ResourceKey; changed?: string[]; actor?: string },
) => Promise<void>;

export interface ResourceStoreConfig {
  kind: string;
  /** The kind's drizzle table; a child kind's parent column (template_versions.fleet_name) is known from it. */
  table: ResourceTable;
}

/** A resource row as the store selects it (column names as in SQL). */
export interface ResourceRow {
  name: string;
  labels: Record<string, string> | null;
  annotations: Record<string, string> | null;
  owner: string | null;
  generation: number | string;
  resource_version: number | string;
  created_at: string;
  deletion_timestamp: string | null;
  spec: JsonObject | null;
  status: JsonObject | null;
  /** The parent column of child kinds, and whatever else a query selected. */
  [column: string]: unknown;
}

/** Up to this many matches, a list sorts them itself instead of walking the primary key (see list()). */
const SMALL_RESULT = 2000;

/** A selected row (see ResourceRow) as a record; `parentColumn` is the SQL name of a child kind's parent column. */
export function toRecord(row: Record<string, unknown>, parentColumn?: string): ResourceRecord {
  const r = row as ResourceRow;
  return {
    name: r.name,
    ...(parentColumn ? { parent: r[parentColumn] as string } : {}),
    labels: r.labels ?? {},
    annotations: r.annotations ?? {},
    owner: r.owner ?? null,
    generation: Number(r.generation),
    resourceVersion: String(r.resource_version),
    createdAt: new Date(r.created_at),
    deletionTimestamp: r.deletion_timestamp ? new Date(r.deletion_timestamp) : null,
    spec: r.spec ?? null,
    status: r.status ?? null,
  };
}

/** The columns a resource store selects from `t` (timestamps as ISO text), as SQL and by name. */
export function resourceSelection(t: ResourceTable): SQL {
  const parent = parentColumns.get(t);
  return sql`${t.name}, ${t.labels}, ${t.annotations}, ${t.owner}, ${t.generation}, ${t.resourceVersion}, ${isoTime(t.createdAt)}, ${isoTime(
    t.deletionTimestamp,
  )}, ${t.spec}, ${t.status}${parent ? sql`, ${parent}` : sql``}`;
}

/**
 * The store of one resource kind on its table. `Spec` and `Status` type the JSON parts (the generated `*Json` types of
 * the kind); the rows are what the kind's writes stored, so they are taken as such.
 */
export function createResourceStore<Spec extends object = JsonObject, Status extends object = JsonObject>(
  db: Executor,
  config: ResourceStoreConfig,
) {
  type Stored = ResourceRecord<Spec, Status>;
  const t = config.table;
  const parentColumn = parentColumns.get(t);
  // Statements are built from names rendered once (precompiled): every API read and write goes through here.
  const n = sqlNames(t);
  const b = sqlBareNames(t);
  const parent = parentColumn && precompiled(sql`${parentColumn}`);
  const parentBare = parentColumn && precompiled(bare(parentColumn));
  const columns = precompiled(resourceSelection(t));

  const keyWhere = (key: ResourceKey): SQL =>
    parent
      ? sql`${n.orgId} = ${key.orgId} and ${parent} = ${key.parent ?? ""} and ${n.name} = ${key.name}`
      : sql`${n.orgId} = ${key.orgId} and ${n.name} = ${key.name}`;

  const records = async (exec: Executor, query: SQL) =>
    (await rowsOf<ResourceRow>(exec, query)).map((x) => toRecord(x, parentColumn?.name) as Stored);

  /** Maps Postgres errors we expect (by SQLSTATE) to domain errors. */
  function translate(err: unknown, key: ResourceKey): never {
    const code = (err as { code?: string; cause?: { code?: string } }).code ?? (err as { cause?: { code?: string } }).cause?.code;
    if (code === "23505") throw alreadyExists(config.kind, key.name);
    throw err;
  }

  return {
    kind: config.kind,

    /** Whether the resource exists (no columns read: for per-call checks). */
    async exists(key: ResourceKey): Promise<boolean> {
      return (await db.execute(sql`select 1 from ${n.$table} where ${keyWhere(key)}`)).rows.length > 0;
    },

    async get(key: ResourceKey, exec: Executor = db): Promise<Stored | undefined> {
      return (await records(exec, sql`select ${columns} from ${n.$table} where ${keyWhere(key)}`))[0];
    },

    async list(orgId: string, q: ListQuery): Promise<ListPage<Spec, Status>> {
      const conds: SQL[] = [sql`${n.orgId} = ${orgId}`, ...q.where];
      if (parent && q.parent !== undefined) conds.push(sql`${parent} = ${q.parent}`);
      if (q.after !== undefined) conds.push(sql`${n.name} > ${q.after}`);
      const filter = sql.join(conds, sql` and `);
      // How many match from here on: counted on a first page, carried in the continue token afterwards.
      const total = q.remaining ?? (await rowsOf<{ n: number }>(db, sql`select count(*)::int as n from ${n.$table} where ${filter}`))[0].n;
      // Few matches: fetch them all through the selector's index and sort (the OFFSET 0 fence stops the planner from
      // walking the primary key in name order, which reads the whole table when matches are rare). Many matches:
      // walking the primary key in order finds a page quickly.
      const page = await records(
        db,
        total <= SMALL_RESULT
          ? sql`select * from (select ${columns} from ${n.$table} where ${filter} offset 0) m order by name limit ${q.limit + 1}`
          : sql`select ${columns} from ${n.$table} where ${filter} order by ${n.name} limit ${q.limit + 1}`,
      );
      if (page.length <= q.limit) return { records: page };
      return { records: page.slice(0, q.limit), remaining: Math.max(1, total - q.limit) };
    },

    async create(key: ResourceKey, state: ResourceState<Spec, Status>, event: NewEvent, inTx?: InTx<Spec, Status>): Promise<Stored> {
      try {
        return await db.transaction(async (tx) => {
          const [created] = await records(
            tx,
            sql`insert into ${n.$table} (${b.orgId}, ${b.name}, ${parentBare ? sql`${parentBare}, ` : sql``}${b.labels}, ${b.annotations}, ${b.owner}, ${b.generation}, ${b.spec}, ${b.status})
              values (${key.orgId}, ${key.name}, ${parent ? sql`${key.parent ?? ""}, ` : sql``}${jsonb(state.labels)}, ${jsonb(state.annotations)},
                      ${state.owner}, ${state.generation}, ${jsonb(state.spec)}, ${jsonb(state.status)})
              returning ${columns}`,
          );
          await insertEvent(tx, key.orgId, event);
          await inTx?.(tx, created, { key });
          return created;
        });
      } catch (err) {
        return translate(err, key);
      }
    },

    /**
     * Writes the new state only if the stored resource_version still equals `expectedVersion`.
     * Returns undefined when the compare-and-swap lost (the row changed or vanished meanwhile).
     */
    async update(
      key: ResourceKey,
      expectedVersion: string,
      state: ResourceState<Spec, Status>,
      event: NewEvent | undefined,
      inTx?: InTx<Spec, Status>,
    ): Promise<Stored | undefined> {
      return db.transaction(async (tx) => {
        const [updated] = await records(
          tx,
          sql`update ${n.$table} set ${b.labels} = ${jsonb(state.labels)}, ${b.annotations} = ${jsonb(state.annotations)},
              ${b.owner} = ${state.owner}, ${b.generation} = ${state.generation}, ${b.spec} = ${jsonb(state.spec)},
              ${b.status} = ${jsonb(state.status)}, ${b.resourceVersion} = flightctl_next_version()
            where ${keyWhere(key)} and ${n.resourceVersion} = ${expectedVersion}
            returning ${columns}`,
        );
        if (!updated) return undefined;
        if (event) await insertEvent(tx, key.orgId, event);
        await inTx?.(tx, updated, { key });
        return updated;
      });
    },

    /** Deletes the resource; returns the deleted record, or undefined when it did not exist. */
    async delete(key: ResourceKey, event: (r: Stored) => NewEvent, inTx?: InTx<Spec, Status>): Promise<Stored | undefined> {
      return db.transaction(async (tx) => {
        const [deleted] = await records(tx, sql`delete from ${n.$table} where ${keyWhere(key)} returning ${columns}`);
        if (!deleted) return undefined;
        await insertEvent(tx, key.orgId, event(deleted));
        await inTx?.(tx, deleted, { key });
        return deleted;
      });
    },
  };
}

export type ResourceStore<Spec extends object = JsonObject, Status extends object = JsonObject> = ReturnType<
  typeof createResourceStore<Spec, Status>
>;

/** Thrown by services when a CAS loses repeatedly; kept here so stores and services agree on the wording. */
export const concurrentWrite = (kind: string, name: string) =>
  new DomainError("conflict", `${kind} "${name}" was modified concurrently; retry the request`);
