// Stores own their tables: a `*-store.ts` file uses only the db/schema tables of its own folder's kind (the devices
// table and its side tables in server/devices/, fleets in server/fleets/, ...). A statement on another kind's table
// belongs in that kind's store. The generic machinery (server/platform/resource/, server/platform/watch/) works on
// every resource table and is not checked; the few cross-kind read joins allowed are listed with why, and may not write.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { filesUnder, ROOT } from "./helpers/source-files.js";

/** The folder (under server/) whose stores own each table of db/schema. */
const OWNER: Record<string, string> = {
  devices: "devices",
  deviceRenders: "devices",
  deviceLastSeen: "devices",
  appOverrides: "devices",
  fleets: "fleets",
  templateVersions: "templateversions",
  repositories: "repositories",
  resourceSyncs: "resourcesyncs",
  enrollmentRequests: "enrollment",
  certificateSigningRequests: "certificates",
  authProviders: "authproviders",
  organizations: "organizations",
  consoleSessions: "console",
  events: "platform",
  watchChanges: "platform/watch",
  watchState: "platform/watch",
  metricsSnapshots: "metrics",
  alerts: "alerts",
  alertExporterState: "alerts",
};

/** Generic stores over every resource table. */
const GENERIC = [/^server\/platform\/resource\//, /^server\/platform\/watch\//];

/** Read-only joins across kinds, kept beside their only caller: file → the foreign tables it may read. */
const CROSS_KIND_READS: Record<string, string[]> = {
  // The dependency sync's scans: a fleet joined with its current template version, and the organizations with such a
  // fleet or a standalone device, each one statement served by the jsonb indexes.
  "server/repositories/dependency-store.ts": ["devices", "fleets", "templateVersions"],
};

/** The db/schema tables a file imports (by their exported names, aliases resolved). */
function schemaTables(text: string): string[] {
  const names: string[] = [];
  for (const [, list] of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*["'][./]*db\/schema\/[^"']*["']/g)) {
    for (const part of list.split(",")) {
      const name = part.trim().split(/\s+as\s+/)[0];
      if (name in OWNER) names.push(name);
    }
  }
  return names;
}

/** A folder's stores may use its tables; server/platform/x/ counts as its own folder. */
const folderOf = (file: string) => path.posix.dirname(file).replace(/^server\//, "");

test("each store uses only the tables of its own kind", () => {
  const found: string[] = [];
  for (const file of filesUnder("server", "-store.ts")) {
    if (GENERIC.some((re) => re.test(file))) continue;
    const text = readFileSync(path.join(ROOT, file), "utf8");
    const allowed = new Set(CROSS_KIND_READS[file] ?? []);
    for (const table of schemaTables(text)) {
      if (OWNER[table] !== folderOf(file) && !allowed.has(table)) found.push(`${file}: ${table} (owned by server/${OWNER[table]}/)`);
    }
  }
  assert.deepEqual(found, [], `statements on another kind's table (move them into that kind's store):\n${found.join("\n")}`);
});

test("the cross-kind read joins do not write", () => {
  for (const file of Object.keys(CROSS_KIND_READS)) {
    const text = readFileSync(path.join(ROOT, file), "utf8");
    assert.doesNotMatch(text, /\b(insert\s+into|update\s+\$\{|delete\s+from)\b/i, `${file} writes`);
  }
});

test("the check recognizes schema imports", () => {
  assert.deepEqual(schemaTables(`import { devices, fleets } from "../../db/schema/index.js";`), ["devices", "fleets"]);
  assert.deepEqual(schemaTables(`import { organizations as o } from "../../db/schema/organizations.js";`), ["organizations"]);
  assert.deepEqual(schemaTables(`import { DEFAULT_ORG_ID } from "../../db/schema/organizations.js";`), []);
});
