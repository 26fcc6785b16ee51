// The field selectors each kind supports (flightctl's per-kind lists), mapped to SQL expressions over its table.
// Expressions on devices match the expression indexes of db/schema exactly, so Postgres can use them.
import { sql, type SQL } from "drizzle-orm";

export type FieldType = "string" | "timestamp" | "number" | "bool" | "array";

export interface FieldDef {
  type: FieldType;
  /** The column or expression; several mean "matches if any of them matches" (nameOrAlias, keyOrValue). */
  sql: SQL | SQL[];
}

export type FieldTable = Record<string, FieldDef>;

const str = (e: SQL): FieldDef => ({ type: "string", sql: e });

/** Fields every persisted resource kind has. */
const common: FieldTable = {
  "metadata.name": str(sql`name`),
  "metadata.owner": str(sql`owner`),
  "metadata.creationTimestamp": { type: "timestamp", sql: sql`created_at` },
};

export const fieldsByKind: Record<string, FieldTable> = {
  Device: {
    ...common,
    "metadata.alias": str(sql`(labels->>'alias')`),
    "metadata.nameOrAlias": { type: "string", sql: [sql`name`, sql`(labels->>'alias')`] },
    "status.summary.status": str(sql`(status->'summary'->>'status')`),
    "status.applicationsSummary.status": str(sql`(status->'applicationsSummary'->>'status')`),
    "status.updated.status": str(sql`(status->'updated'->>'status')`),
    "status.lifecycle.status": str(sql`(status->'lifecycle'->>'status')`),
    "status.capabilities.osMode": str(sql`(status->'capabilities'->>'osMode')`),
    lastSeen: {
      type: "timestamp",
      sql: sql`(select l.last_seen from device_last_seen l where l.org_id = devices.org_id and l.name = devices.name)`,
    },
  },
  /** The labels listing: each label pair of the selected devices, as columns l.key and l.value. */
  DeviceLabel: { "metadata.labels.keyOrValue": { type: "string", sql: [sql`l.key`, sql`l.value`] } },
  Fleet: { ...common, "spec.template.spec.os.image": str(sql`(spec->'template'->'spec'->'os'->>'image')`) },
  TemplateVersion: { ...common },
  EnrollmentRequest: {
    ...common,
    "status.approval.approved": { type: "bool", sql: sql`((status->'approval'->>'approved')::boolean)` },
    "status.certificate": str(sql`nullif(status->>'certificate', '')`),
  },
  CertificateSigningRequest: {
    ...common,
    "status.certificate": str(sql`nullif(status->>'certificate', '')`),
    "spec.signerName": str(sql`(spec->>'signerName')`),
  },
  Repository: {
    ...common,
    "spec.type": str(sql`(spec->>'type')`),
    "spec.url": str(sql`(spec->>'url')`),
    "spec.registry": str(sql`(spec->>'registry')`),
    "spec.accessMode": str(sql`(spec->>'accessMode')`),
  },
  ResourceSync: { ...common, "spec.repository": str(sql`(spec->>'repository')`), "spec.type": str(sql`(spec->>'type')`) },
  AuthProvider: { ...common, "spec.providerType": str(sql`(spec->>'providerType')`) },
  Event: {
    reason: str(sql`reason`),
    type: str(sql`type`),
    actor: str(sql`actor`),
    "involvedObject.kind": str(sql`involved_kind`),
    "involvedObject.name": str(sql`involved_name`),
    "metadata.creationTimestamp": { type: "timestamp", sql: sql`created_at` },
  },
  Organization: { "metadata.name": str(sql`id::text`) },
};
