// The field selectors each kind supports (flightctl's per-kind lists, internal/store/model/*.go and selectors.go),
// mapped to SQL expressions over the kind's table. The store selects from one table, so columns are unqualified.
// Expressions on indexed JSON paths are written exactly like the expression indexes in db/schema/resources.ts
// (`(status->'summary'->>'status')`, ...) so Postgres can use them.
import { sql, type SQL } from "drizzle-orm";

/**
 * How values are checked and compared. string: text; timestamp: RFC 3339, compared as timestamptz; number: numeric;
 * bool: true/false (Go's ParseBool spellings accepted); uuid: compared as uuid; array: a jsonb array of strings.
 */
export type FieldType = "string" | "timestamp" | "number" | "bool" | "uuid" | "array";

export interface FieldDef {
  type: FieldType;
  /**
   * The column or expression, evaluating to SQL NULL when the field is absent. Several mean "any of them" (flightctl's
   * mapped selectors: metadata.nameOrAlias, metadata.labels.keyOrValue); negations then mean "none of them".
   */
  sql: SQL | SQL[];
}

/** Selector name → definition. */
export type FieldTable = Record<string, FieldDef>;

const str = (e: SQL): FieldDef => ({ type: "string", sql: e });
const time = (e: SQL): FieldDef => ({ type: "timestamp", sql: e });

/** Fields every persisted resource kind has (flightctl's Resource model). */
const common: FieldTable = {
  "metadata.name": str(sql`name`),
  "metadata.owner": str(sql`owner`),
  "metadata.creationTimestamp": time(sql`created_at`),
};

const alias = sql`(labels->>'alias')`;

export const fieldsByKind: Record<string, FieldTable> = {
  Device: {
    ...common,
    "metadata.alias": str(alias),
    "metadata.nameOrAlias": { type: "string", sql: [sql`name`, alias] },
    "status.summary.status": str(sql`(status->'summary'->>'status')`),
    "status.applicationsSummary.status": str(sql`(status->'applicationsSummary'->>'status')`),
    "status.updated.status": str(sql`(status->'updated'->>'status')`),
    "status.lifecycle.status": str(sql`(status->'lifecycle'->>'status')`),
    "status.capabilities.osMode": str(sql`(status->'capabilities'->>'osMode')`),
    // Heartbeats live in a side table; NULL (no row) when the device was never seen. Needs the outer table to be
    // `devices` (unaliased).
    lastSeen: time(sql`(select dls.last_seen from device_last_seen dls where dls.org_id = devices.org_id and dls.name = devices.name)`),
  },
  /**
   * The labels listing (GET /labels): filters the (key, value) pairs of the selected devices, which the device store
   * exposes as l.key and l.value.
   */
  DeviceLabel: {
    "metadata.labels.key": str(sql`l.key`),
    "metadata.labels.value": str(sql`l.value`),
    "metadata.labels.keyOrValue": { type: "string", sql: [sql`l.key`, sql`l.value`] },
  },
  Fleet: { ...common, "spec.template.spec.os.image": str(sql`(spec->'template'->'spec'->'os'->>'image')`) },
  // flightctl tags TemplateVersion.FleetName as metadata.owner: the value is the bare fleet name, not "Fleet/<name>".
  TemplateVersion: { ...common, "metadata.owner": str(sql`fleet_name`) },
  EnrollmentRequest: {
    ...common,
    "status.approval.approved": { type: "bool", sql: sql`((status->'approval'->>'approved')::boolean)` },
    // An empty certificate counts as none, so `status.certificate` / `!status.certificate` mean issued / not issued.
    "status.certificate": str(sql`nullif(status->>'certificate', '')`),
  },
  CertificateSigningRequest: {
    ...common,
    "status.certificate": str(sql`nullif(status->>'certificate', '')`),
    // Not in flightctl; lets services and users pick CSRs by signer.
    "spec.signerName": str(sql`(spec->>'signerName')`),
  },
  Repository: {
    ...common,
    "spec.type": str(sql`(spec->>'type')`),
    "spec.url": str(sql`(spec->>'url')`),
    // OCI repositories
    "spec.registry": str(sql`(spec->>'registry')`),
    "spec.accessMode": str(sql`(spec->>'accessMode')`),
  },
  ResourceSync: { ...common, "spec.repository": str(sql`(spec->>'repository')`), "spec.type": str(sql`(spec->>'type')`) },
  AuthProvider: { ...common },
  /** Events have no owner; flightctl still accepts metadata.owner (it never matches, `!metadata.owner` matches all). */
  Event: {
    "metadata.name": str(sql`(id::text)`),
    "metadata.owner": str(sql`(null::text)`),
    "metadata.creationTimestamp": time(sql`created_at`),
    reason: str(sql`reason`),
    type: str(sql`type`),
    actor: str(sql`actor`),
    "involvedObject.kind": str(sql`involved_kind`),
    "involvedObject.name": str(sql`involved_name`),
  },
  Organization: { "metadata.name": { type: "uuid", sql: sql`id` } },
};
