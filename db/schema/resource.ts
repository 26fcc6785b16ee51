// The common shape of every flightctl resource table: indexed metadata columns, spec/status/annotations as proto JSON.
import { is, sql } from "drizzle-orm";
import type { BuildExtraConfigColumns } from "drizzle-orm";
import {
  bigint,
  customType,
  index,
  integer,
  jsonb,
  pgSequence,
  pgTable,
  primaryKey,
  PrimaryKeyBuilder,
  text,
  timestamp,
  uuid,
  type PgColumnBuilderBase,
  type PgTableExtraConfigValue,
} from "drizzle-orm/pg-core";

/** Every write takes its resource_version from this one sequence, so versions are comparable across kinds. */
export const resourceVersionSeq = pgSequence("resource_version_seq");

/**
 * text COLLATE "C": names compare byte-wise, so keyset pagination (`name > $after ORDER BY name`) agrees with the
 * ORDER BY whatever the database locale is. drizzle has no collate() for pg columns, hence a custom type.
 */
export const textC = customType<{ data: string; driverData: string }>({
  dataType: () => 'text COLLATE "C"',
});

/** The columns every resource table has (camelCase in TS, snake_case in SQL). */
export function resourceColumns() {
  return {
    orgId: uuid("org_id").notNull(),
    name: textC("name").notNull(),
    labels: jsonb("labels").$type<Record<string, string>>().notNull().default({}),
    annotations: jsonb("annotations").$type<Record<string, string>>().notNull().default({}),
    /** "Kind/name" of the owning resource (e.g. "Fleet/f1"); null when unowned. */
    owner: text("owner"),
    generation: integer("generation").notNull().default(1),
    // mode "number": a sequence will not pass 2^53 (9e15 writes); raw SQL reads get a string from pg anyway. The default
    // takes the transaction id before the version (migration 0008): watch streams rely on it.
    resourceVersion: bigint("resource_version", { mode: "number" }).notNull().default(sql`flightctl_next_version()`),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
    deletionTimestamp: timestamp("deletion_timestamp", { withTimezone: true }),
    spec: jsonb("spec").$type<Record<string, unknown>>(),
    status: jsonb("status").$type<Record<string, unknown>>(),
  };
}

type ResourceColumns = ReturnType<typeof resourceColumns>;

/**
 * A resource table named `tableName` with the common columns plus `extraColumns`. `extraIndexes` returns further
 * indexes; if it returns a primary key, that replaces the default (org_id, name) one (template_versions does this).
 */
export function resourceTable<TName extends string, E extends Record<string, PgColumnBuilderBase> = {}>(
  tableName: TName,
  extraColumns?: E,
  extraIndexes?: (t: BuildExtraConfigColumns<TName, ResourceColumns & E, "pg">) => PgTableExtraConfigValue[],
) {
  const columns = { ...resourceColumns(), ...((extraColumns ?? {}) as E) };
  return pgTable(tableName, columns, (t) => {
    const extra = extraIndexes ? extraIndexes(t) : [];
    const hasPk = extra.some((x) => is(x, PrimaryKeyBuilder));
    return [
      ...(hasPk ? [] : [primaryKey({ name: `${tableName}_pkey`, columns: [t.orgId, t.name] })]),
      // Default jsonb_ops (not jsonb_path_ops) so both `labels ? 'k'` and `labels @> '{...}'` can use it.
      index(`${tableName}_labels_gin`).using("gin", t.labels),
      index(`${tableName}_org_owner_idx`).on(t.orgId, t.owner),
      index(`${tableName}_org_created_idx`).on(t.orgId, t.createdAt),
      // Watch streams read "what changed after version N" (server/platform/watch).
      index(`${tableName}_rv_idx`).on(t.resourceVersion),
      ...extra,
    ];
  });
}
