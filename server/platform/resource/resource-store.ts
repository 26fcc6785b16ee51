// Generic Postgres store for every resource kind that has the common resource table shape (db/schema/resource.ts).
// Drizzle SQL only; returns plain records (flightctl JSON parts), never Connect errors. Writes are compare-and-swap
// on resource_version, and each one writes its Event row in the same transaction.
import { sql, type SQL } from "drizzle-orm";
import type { NodePgDatabase } from "drizzle-orm/node-postgres";
import type { JsonObject } from "@bufbuild/protobuf";
import { alreadyExists, DomainError } from "../errors.js";
import { insertEvent, type NewEvent } from "../../events/event-store.js";

export type Db = NodePgDatabase<Record<string, never>>;
/** A transaction or the database itself: anything that can run statements. */
export type Executor = Pick<Db, "execute">;

/** Where a resource lives: organization, name, and for child kinds the parent's name (TemplateVersion → fleet). */
export interface ResourceKey {
  orgId: string;
  name: string;
  parent?: string;
}

/** A stored resource in flightctl JSON parts. */
export interface ResourceRecord {
  name: string;
  parent?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  owner: string | null;
  generation: number;
  resourceVersion: string;
  createdAt: Date;
  deletionTimestamp: Date | null;
  spec: JsonObject | null;
  status: JsonObject | null;
}

/** The mutable part of a record, as written by create/update. */
export type ResourceState = Pick<ResourceRecord, "labels" | "annotations" | "owner" | "generation" | "spec" | "status">;

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

export interface ListPage {
  records: ResourceRecord[];
  /** Set when more records match after this page. */
  remaining?: number;
}

/** Statements run in the write's transaction after the row is written (jobs, side tables). */
export type InTx = (tx: Executor, record: ResourceRecord, ctx: { key: ResourceKey; changed?: string[]; actor?: string }) => Promise<void>;

export interface ResourceStoreConfig {
  kind: string;
  table: string;
  /** Column holding the parent name for child kinds (template_versions.fleet_name). */
  parentColumn?: string;
}

/**
 * Selects a timestamptz as ISO 8601 text: drizzle's node-postgres driver hands timestamps back as Postgres text
 * ("2024-01-02 03:04:05+00"), which JavaScript's Date does not parse reliably.
 */
export const isoTime = (column: string) => sql`to_json(${sql.identifier(column)}) #>> '{}' as ${sql.identifier(column)}`;

/** Up to this many matches, a list sorts them itself instead of walking the primary key (see list()). */
const SMALL_RESULT = 2000;

const json = (v: unknown) => (v === null || v === undefined ? sql`null` : sql`${JSON.stringify(v)}::jsonb`);

export function toRecord(row: Record<string, unknown>, parentColumn?: string): ResourceRecord {
  return {
    name: row.name as string,
    ...(parentColumn ? { parent: row[parentColumn] as string } : {}),
    labels: (row.labels as Record<string, string>) ?? {},
    annotations: (row.annotations as Record<string, string>) ?? {},
    owner: (row.owner as string | null) ?? null,
    generation: Number(row.generation),
    resourceVersion: String(row.resource_version),
    createdAt: new Date(row.created_at as string),
    deletionTimestamp: row.deletion_timestamp ? new Date(row.deletion_timestamp as string) : null,
    spec: (row.spec as JsonObject | null) ?? null,
    status: (row.status as JsonObject | null) ?? null,
  };
}

export function createResourceStore(db: Db, config: ResourceStoreConfig) {
  const table = sql.identifier(config.table);
  const parentCol = config.parentColumn ? sql.identifier(config.parentColumn) : undefined;
  const columns = sql`name, labels, annotations, owner, generation, resource_version, ${isoTime("created_at")}, ${isoTime("deletion_timestamp")}, spec, status${
    parentCol ? sql`, ${parentCol}` : sql``
  }`;

  const keyWhere = (key: ResourceKey): SQL =>
    parentCol
      ? sql`org_id = ${key.orgId} and ${parentCol} = ${key.parent ?? ""} and name = ${key.name}`
      : sql`org_id = ${key.orgId} and name = ${key.name}`;

  const rows = (r: { rows: unknown[] }) => (r.rows as Record<string, unknown>[]).map((x) => toRecord(x, config.parentColumn));

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
      return (await db.execute(sql`select 1 from ${table} where ${keyWhere(key)}`)).rows.length > 0;
    },

    async get(key: ResourceKey, exec: Executor = db): Promise<ResourceRecord | undefined> {
      return rows(await exec.execute(sql`select ${columns} from ${table} where ${keyWhere(key)}`))[0];
    },

    async list(orgId: string, q: ListQuery): Promise<ListPage> {
      const conds: SQL[] = [sql`org_id = ${orgId}`, ...q.where];
      if (parentCol && q.parent !== undefined) conds.push(sql`${parentCol} = ${q.parent}`);
      if (q.after !== undefined) conds.push(sql`name > ${q.after}`);
      const filter = sql.join(conds, sql` and `);
      // How many match from here on: counted on a first page, carried in the continue token afterwards.
      const total =
        q.remaining ?? ((await db.execute(sql`select count(*)::int as n from ${table} where ${filter}`)).rows[0] as { n: number }).n;
      // Few matches: fetch them all through the selector's index and sort (the OFFSET 0 fence stops the planner from
      // walking the primary key in name order, which reads the whole table when matches are rare). Many matches:
      // walking the primary key in order finds a page quickly.
      const page = rows(
        await db.execute(
          total <= SMALL_RESULT
            ? sql`select * from (select ${columns} from ${table} where ${filter} offset 0) m order by name limit ${q.limit + 1}`
            : sql`select ${columns} from ${table} where ${filter} order by name limit ${q.limit + 1}`,
        ),
      );
      if (page.length <= q.limit) return { records: page };
      return { records: page.slice(0, q.limit), remaining: Math.max(1, total - q.limit) };
    },

    async create(key: ResourceKey, state: ResourceState, event: NewEvent, inTx?: InTx): Promise<ResourceRecord> {
      try {
        return await db.transaction(async (tx) => {
          const created = rows(
            await tx.execute(sql`insert into ${table} (org_id, name, ${parentCol ? sql`${parentCol}, ` : sql``}labels, annotations, owner, generation, spec, status)
              values (${key.orgId}, ${key.name}, ${parentCol ? sql`${key.parent ?? ""}, ` : sql``}${json(state.labels)}, ${json(state.annotations)},
                      ${state.owner}, ${state.generation}, ${json(state.spec)}, ${json(state.status)})
              returning ${columns}`),
          )[0];
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
      state: ResourceState,
      event: NewEvent | undefined,
      inTx?: InTx,
    ): Promise<ResourceRecord | undefined> {
      return db.transaction(async (tx) => {
        const updated = rows(
          await tx.execute(sql`update ${table} set labels = ${json(state.labels)}, annotations = ${json(state.annotations)},
              owner = ${state.owner}, generation = ${state.generation}, spec = ${json(state.spec)}, status = ${json(state.status)},
              resource_version = nextval('resource_version_seq')
            where ${keyWhere(key)} and resource_version = ${expectedVersion}
            returning ${columns}`),
        )[0];
        if (!updated) return undefined;
        if (event) await insertEvent(tx, key.orgId, event);
        await inTx?.(tx, updated, { key });
        return updated;
      });
    },

    /** Deletes the resource; returns the deleted record, or undefined when it did not exist. */
    async delete(key: ResourceKey, event: (r: ResourceRecord) => NewEvent, inTx?: InTx): Promise<ResourceRecord | undefined> {
      return db.transaction(async (tx) => {
        const deleted = rows(await tx.execute(sql`delete from ${table} where ${keyWhere(key)} returning ${columns}`))[0];
        if (!deleted) return undefined;
        await insertEvent(tx, key.orgId, event(deleted));
        await inTx?.(tx, deleted, { key });
        return deleted;
      });
    },
  };
}

export type ResourceStore = ReturnType<typeof createResourceStore>;

/** Thrown by services when a CAS loses repeatedly; kept here so stores and services agree on the wording. */
export const concurrentWrite = (kind: string, name: string) =>
  new DomainError("conflict", `${kind} "${name}" was modified concurrently; retry the request`);
