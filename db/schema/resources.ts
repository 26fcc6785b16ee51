// The resource kinds' tables. Expression indexes exist only for the field selectors used at scale
// (fleet-wide status queries over 100k devices); other selectors scan within the org.
import { sql } from "drizzle-orm";
import { index, primaryKey } from "drizzle-orm/pg-core";
import { resourceTable, textC } from "./resource.js";

// The status indexes end with the name: a page of a common status (`… and name > $after order by name limit n`) is
// then one ordered index range, where (org, status) alone made the list walk the primary key and filter every row
// (900 ms a page at 100,000 devices, `npm run bench:envelope`).
export const devices = resourceTable("devices", {}, (t) => [
  index("devices_summary_status_idx").on(t.orgId, sql`(${t.status}->'summary'->>'status')`, t.name),
  index("devices_updated_status_idx").on(t.orgId, sql`(${t.status}->'updated'->>'status')`, t.name),
  index("devices_apps_status_idx").on(t.orgId, sql`(${t.status}->'applicationsSummary'->>'status')`, t.name),
  index("devices_lifecycle_status_idx").on(t.orgId, sql`(${t.status}->'lifecycle'->>'status')`, t.name),
  index("devices_alias_idx").on(t.orgId, sql`(${t.labels}->>'alias')`),
]);

export const fleets = resourceTable("fleets", {}, (t) => [
  index("fleets_os_image_idx").on(t.orgId, sql`(${t.spec}->'template'->'spec'->'os'->>'image')`),
]);

/** Child of a fleet: unique per (org, fleet, name). */
export const templateVersions = resourceTable("template_versions", { fleetName: textC("fleet_name").notNull() }, (t) => [
  primaryKey({ name: "template_versions_pkey", columns: [t.orgId, t.fleetName, t.name] }),
]);

export const enrollmentRequests = resourceTable("enrollment_requests");
export const certificateSigningRequests = resourceTable("certificate_signing_requests");

export const repositories = resourceTable("repositories", {}, (t) => [
  index("repositories_type_idx").on(t.orgId, sql`(${t.spec}->>'type')`),
]);

export const resourceSyncs = resourceTable("resource_syncs");
export const authProviders = resourceTable("auth_providers");
