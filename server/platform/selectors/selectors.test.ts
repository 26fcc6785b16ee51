// The SQL selectors compile to, run against real Postgres with the real (migrated) tables: exactly which rows each
// selector returns, including Kubernetes semantics for missing keys/fields, and that the indexes apply.
//
// Under `npm test` the database is cloned from the prepared template; run directly
// (`node --import tsx --test server/platform/selectors/*.test.ts`) it creates and migrates a scratch database on
// FC_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and drops it afterwards.
import { assertNoOpenHandles } from "../../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { sql, type SQL } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { migrate } from "../../../db/migrate.js";
import { createTestDatabase, databaseUrl } from "../../../test/helpers/db.js";
import { labelRequirementsToSql, labelSelectorFromMessage, parseLabelSelector } from "./label-selector.js";
import { fieldRequirementsToSql, parseFieldSelector } from "./field-selector.js";
import { fieldsByKind, type FieldTable } from "./fields.js";

async function scratchDatabase(): Promise<{ pool: pg.Pool; drop: () => Promise<void> }> {
  if (process.env.FC_TEMPLATE_DB) return createTestDatabase();
  const server = process.env.FC_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const name = `sel_${randomBytes(6).toString("hex")}`;
  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: server });
    await c.connect();
    try {
      await c.query(q);
    } finally {
      await c.end();
    }
  };
  await admin(`create database ${name}`);
  const url = databaseUrl(server, name);
  await migrate(url);
  const pool = new pg.Pool({ connectionString: url, max: 3 });
  return {
    pool,
    drop: async () => {
      await pool.end();
      await admin(`drop database if exists ${name} with (force)`);
    },
  };
}

const ORG = "00000000-0000-0000-0000-000000000000";
const OTHER_ORG = "11111111-1111-1111-1111-111111111111";

interface DeviceRow {
  name: string;
  labels: Record<string, string>;
  status?: object | null;
  owner?: string;
  created: string;
  lastSeen?: string;
  spec?: object;
  generation?: number;
}

// d01..d10: one trait each worth selecting on. d05's alias is d01's name; d07's alias has LIKE wildcards in it.
const devices: DeviceRow[] = [
  {
    name: "d01",
    labels: { env: "prod", alias: "kitchen", tier: "edge" },
    status: {
      summary: { status: "Online" },
      updated: { status: "UpToDate" },
      applicationsSummary: { status: "Healthy" },
      lifecycle: { status: "Enrolled" },
      capabilities: { osMode: "image" },
    },
    owner: "Fleet/f1",
    created: "2024-01-01T00:00:00Z",
    lastSeen: "2024-05-01T00:00:00Z",
    generation: 1,
  },
  {
    name: "d02",
    labels: { env: "dev" },
    status: { summary: { status: "Degraded" }, updated: { status: "OutOfDate" } },
    owner: "Fleet/f1",
    created: "2024-06-01T00:00:00Z",
    lastSeen: "2024-06-01T00:00:00Z",
    generation: 2,
  },
  { name: "d03", labels: { env: "prod", tier: "core" }, status: null, created: "2025-01-01T00:00:00Z", generation: 3 },
  {
    name: "d04",
    labels: {},
    status: { summary: { status: "Online" }, capabilities: { osMode: "package" } },
    owner: "Fleet/f2",
    created: "2025-02-01T00:00:00Z",
    lastSeen: "2025-01-01T00:00:00Z",
  },
  { name: "d05", labels: { env: "staging", alias: "d01" }, status: { summary: { status: "Offline" } }, created: "2025-03-01T00:00:00Z" },
  {
    name: "d06",
    labels: { "example.com/team": "a", env: "prod" },
    status: { summary: { status: "Unknown" }, lifecycle: { status: "Decommissioned" } },
    created: "2025-04-01T00:00:00Z",
  },
  { name: "d07", labels: { alias: "Big_Box%" }, status: { summary: { status: "Online" } }, created: "2025-05-01T00:00:00Z" },
  { name: "d08", labels: { env: "" }, status: {}, created: "2025-06-01T00:00:00Z" },
  {
    name: "d09",
    labels: { region: "eu" },
    status: { summary: { status: "Online" } },
    created: "2025-07-01T00:00:00Z",
    spec: { tags: ["a", "b"] },
  },
  { name: "d10", labels: { region: "us" }, created: "2025-08-01T00:00:00Z", spec: { tags: ["c"] } },
];
const ALL = devices.map((d) => d.name);
const except = (...names: string[]) => ALL.filter((n) => !names.includes(n));

/** Test-only fields for the types no kind uses yet (array, number), over the devices table. */
const extraFields: FieldTable = {
  "spec.tags": { type: "array", sql: sql`(spec->'tags')` },
  "metadata.generation": { type: "number", sql: sql`generation` },
};

describe("compiled selectors against Postgres", () => {
  let db: Awaited<ReturnType<typeof scratchDatabase>>;
  let query: (q: SQL) => Promise<string[]>;
  const where = (table: string, frag: SQL, org = ORG) =>
    query(sql`select name from ${sql.identifier(table)} where org_id = ${org} and ${frag} order by name`);
  const labels = (s: string) => where("devices", labelRequirementsToSql(parseLabelSelector(s)));
  const fields = (s: string, table = "devices", kind = "Device") =>
    where(table, fieldRequirementsToSql(parseFieldSelector(s, fieldsByKind[kind])));

  before(async () => {
    db = await scratchDatabase();
    const d = drizzle(db.pool);
    query = async (q) => ((await d.execute(q)).rows as { name: string }[]).map((r) => r.name);
    for (const dev of devices) {
      await db.pool.query(
        "insert into devices (org_id, name, labels, status, owner, created_at, spec, generation) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
          ORG,
          dev.name,
          JSON.stringify(dev.labels),
          dev.status === undefined ? null : JSON.stringify(dev.status),
          dev.owner ?? null,
          dev.created,
          dev.spec ? JSON.stringify(dev.spec) : null,
          dev.generation ?? 1,
        ],
      );
      if (dev.lastSeen)
        await db.pool.query("insert into device_last_seen (org_id, name, last_seen) values ($1, $2, $3)", [ORG, dev.name, dev.lastSeen]);
    }
    // Same names in another org, seen recently: must never leak into the first org's results (lastSeen subquery).
    await db.pool.query("insert into devices (org_id, name, labels) values ($1, 'd03', '{\"env\":\"prod\"}')", [OTHER_ORG]);
    await db.pool.query("insert into device_last_seen (org_id, name, last_seen) values ($1, 'd03', '2030-01-01T00:00:00Z')", [OTHER_ORG]);
    await db.pool.query("analyze");
  });
  after(async () => {
    await db?.drop();
    await assertNoOpenHandles();
  });

  test("label =, ==, != with Kubernetes semantics (objects without the key match !=)", async () => {
    assert.deepEqual(await labels("env=prod"), ["d01", "d03", "d06"]);
    assert.deepEqual(await labels("env==prod,tier=edge"), ["d01"]);
    assert.deepEqual(await labels("env=prod,env=dev"), []);
    assert.deepEqual(await labels("env=prod,env=prod"), ["d01", "d03", "d06"]);
    assert.deepEqual(await labels("env!=prod"), except("d01", "d03", "d06"));
    assert.deepEqual(await labels("env="), ["d08"]);
    assert.deepEqual(await labels("env!="), except("d08"));
    assert.deepEqual(await labels("example.com/team=a"), ["d06"]);
    assert.deepEqual(await labels(""), ALL);
  });

  test("label in, notin (objects without the key match notin), exists, !exists", async () => {
    assert.deepEqual(await labels("env in (dev,staging)"), ["d02", "d05"]);
    assert.deepEqual(await labels("env in (prod)"), ["d01", "d03", "d06"]);
    assert.deepEqual(await labels("env in ()"), ["d08"]);
    assert.deepEqual(await labels("env notin (prod,dev)"), ["d04", "d05", "d07", "d08", "d09", "d10"]);
    assert.deepEqual(await labels("tier"), ["d01", "d03"]);
    assert.deepEqual(await labels("!env"), ["d04", "d07", "d09", "d10"]);
    assert.deepEqual(await labels("env,!tier"), ["d02", "d05", "d06", "d08"]);
    assert.deepEqual(await labels("region in (eu,us),!env"), ["d09", "d10"]);
    assert.deepEqual(await labels("env=prod,tier notin (edge),!example.com/team"), ["d03"]);
  });

  test("fleet selectors (LabelSelector messages) select the same devices", async () => {
    const reqs = labelSelectorFromMessage({
      matchLabels: { env: "prod" },
      matchExpressions: [
        { key: "tier", operator: "Exists" },
        { key: "tier", operator: "NotIn", values: ["core"] },
      ],
    });
    assert.deepEqual(await where("devices", labelRequirementsToSql(reqs)), ["d01"]);
    // Another jsonb column works too.
    assert.deepEqual(await where("devices", labelRequirementsToSql(parseLabelSelector("summary"), sql`status`)), [
      "d01",
      "d02",
      "d04",
      "d05",
      "d06",
      "d07",
      "d09",
    ]);
  });

  test("string fields: =, !=, in, notin (missing values match the negations), exists, !exists", async () => {
    assert.deepEqual(await fields("status.summary.status=Online"), ["d01", "d04", "d07", "d09"]);
    assert.deepEqual(await fields("status.summary.status==Online"), ["d01", "d04", "d07", "d09"]);
    assert.deepEqual(await fields("status.summary.status!=Online"), except("d01", "d04", "d07", "d09"));
    assert.deepEqual(await fields("status.summary.status in (Online,Degraded)"), ["d01", "d02", "d04", "d07", "d09"]);
    assert.deepEqual(await fields("status.summary.status notin (Online,Degraded)"), ["d03", "d05", "d06", "d08", "d10"]);
    assert.deepEqual(await fields("status.summary.status"), except("d03", "d08", "d10"));
    assert.deepEqual(await fields("!status.summary.status"), ["d03", "d08", "d10"]);
    assert.deepEqual(await fields("status.updated.status=OutOfDate"), ["d02"]);
    assert.deepEqual(await fields("status.applicationsSummary.status=Healthy"), ["d01"]);
    assert.deepEqual(await fields("status.lifecycle.status=Decommissioned"), ["d06"]);
    assert.deepEqual(await fields("status.lifecycle.status!=Decommissioned"), except("d06"));
    assert.deepEqual(await fields("status.capabilities.osMode=package"), ["d04"]);
    assert.deepEqual(await fields("metadata.name=d02"), ["d02"]);
    assert.deepEqual(await fields("metadata.name in (d02,d03,nope)"), ["d02", "d03"]);
    assert.deepEqual(await fields("metadata.owner=Fleet/f1"), ["d01", "d02"]);
    assert.deepEqual(await fields("metadata.owner!=Fleet/f1"), except("d01", "d02"));
    assert.deepEqual(await fields("metadata.owner"), ["d01", "d02", "d04"]);
    assert.deepEqual(await fields("!metadata.owner"), except("d01", "d02", "d04"));
    assert.deepEqual(await fields("metadata.owner=Fleet/f1,status.summary.status!=Online"), ["d02"]);
    assert.deepEqual(await fields("metadata.name=x';drop\\ table\\ devices;--"), []);
  });

  test("contains / notcontains: literal, case-sensitive substring", async () => {
    assert.deepEqual(await fields("metadata.alias contains itch"), ["d01"]);
    assert.deepEqual(await fields("metadata.alias contains ITCH"), []);
    assert.deepEqual(await fields("metadata.alias contains Big_"), ["d07"]);
    assert.deepEqual(await fields("metadata.alias contains %"), ["d07"]);
    assert.deepEqual(await fields("metadata.alias contains g_B"), ["d07"]);
    assert.deepEqual(await fields("metadata.alias contains g%B"), []);
    assert.deepEqual(await fields("metadata.name contains _"), []);
    assert.deepEqual(await fields("metadata.name contains 0"), ALL);
    assert.deepEqual(await fields("metadata.alias notcontains itch"), except("d01"));
    assert.deepEqual(await fields("status.summary.status contains line"), ["d01", "d04", "d05", "d07", "d09"]);
  });

  test("metadata.alias and metadata.nameOrAlias (any of name, alias; negations: none)", async () => {
    assert.deepEqual(await fields("metadata.alias=kitchen"), ["d01"]);
    assert.deepEqual(await fields("metadata.alias"), ["d01", "d05", "d07"]);
    assert.deepEqual(await fields("metadata.nameOrAlias=kitchen"), ["d01"]);
    assert.deepEqual(await fields("metadata.nameOrAlias=d01"), ["d01", "d05"]);
    assert.deepEqual(await fields("metadata.nameOrAlias!=d01"), except("d01", "d05"));
    assert.deepEqual(await fields("metadata.nameOrAlias in (kitchen,d02)"), ["d01", "d02"]);
    assert.deepEqual(await fields("metadata.nameOrAlias notin (kitchen,d02)"), except("d01", "d02"));
    assert.deepEqual(await fields("metadata.nameOrAlias contains Box"), ["d07"]);
    assert.deepEqual(await fields("metadata.nameOrAlias notcontains 1"), except("d01", "d05", "d10"));
    assert.deepEqual(await fields("metadata.nameOrAlias"), ALL);
    assert.deepEqual(await fields("!metadata.nameOrAlias"), []);
  });

  test("timestamps: creationTimestamp and lastSeen, ordering, equality across offsets, never-seen devices", async () => {
    assert.deepEqual(await fields("metadata.creationTimestamp<2024-06-01T00:00:00Z"), ["d01"]);
    assert.deepEqual(await fields("metadata.creationTimestamp<=2024-06-01T00:00:00Z"), ["d01", "d02"]);
    assert.deepEqual(await fields("metadata.creationTimestamp>=2025-07-01T00:00:00Z"), ["d09", "d10"]);
    assert.deepEqual(await fields("metadata.creationTimestamp>2025-07-01T00:00:00Z"), ["d10"]);
    assert.deepEqual(await fields("metadata.creationTimestamp=2024-06-01T02:00:00+02:00"), ["d02"]);
    assert.deepEqual(await fields("metadata.creationTimestamp in (2024-01-01T00:00:00Z, 2025-01-01T00:00:00.000Z)"), ["d01", "d03"]);
    assert.deepEqual(await fields("metadata.creationTimestamp>=2024-01-01T00:00:00Z,metadata.creationTimestamp<2025-01-01T00:00:00Z"), [
      "d01",
      "d02",
    ]);
    assert.deepEqual(await fields("lastSeen>2024-05-15T00:00:00Z"), ["d02", "d04"]);
    assert.deepEqual(await fields("lastSeen<=2024-06-01T00:00:00Z"), ["d01", "d02"]);
    assert.deepEqual(await fields("lastSeen=2024-06-01T00:00:00Z"), ["d02"]);
    assert.deepEqual(await fields("lastSeen!=2024-06-01T00:00:00Z"), except("d02"));
    assert.deepEqual(await fields("lastSeen"), ["d01", "d02", "d04"]);
    assert.deepEqual(await fields("!lastSeen"), except("d01", "d02", "d04"));
    assert.deepEqual(
      await where("devices", fieldRequirementsToSql(parseFieldSelector("lastSeen>2029-01-01T00:00:00Z", fieldsByKind.Device)), OTHER_ORG),
      ["d03"],
    );
  });

  test("numbers and arrays (contains, notcontains, in = overlap, notin)", async () => {
    const extra = (s: string) => where("devices", fieldRequirementsToSql(parseFieldSelector(s, extraFields)));
    assert.deepEqual(await extra("metadata.generation>2"), ["d03"]);
    assert.deepEqual(await extra("metadata.generation<=1.5"), except("d02", "d03"));
    assert.deepEqual(await extra("metadata.generation in (2, 3)"), ["d02", "d03"]);
    assert.deepEqual(await extra("metadata.generation!=1"), ["d02", "d03"]);
    assert.deepEqual(await extra("spec.tags contains a"), ["d09"]);
    assert.deepEqual(await extra("spec.tags notcontains a"), except("d09"));
    assert.deepEqual(await extra("spec.tags in (b,c)"), ["d09", "d10"]);
    assert.deepEqual(await extra("spec.tags in (z)"), []);
    assert.deepEqual(await extra("spec.tags notin (a,z)"), except("d09"));
    assert.deepEqual(await extra("spec.tags"), ["d09", "d10"]);
    assert.deepEqual(await extra("!spec.tags"), except("d09", "d10"));
  });

  test("label and field selectors combine", async () => {
    const both = sql`${labelRequirementsToSql(parseLabelSelector("env"))} and ${fieldRequirementsToSql(parseFieldSelector("status.summary.status!=Online,metadata.nameOrAlias!=d02", fieldsByKind.Device))}`;
    assert.deepEqual(await where("devices", both), ["d03", "d05", "d06", "d08"]);
  });

  test("bool and certificate fields (EnrollmentRequest)", async () => {
    const rows: [string, object | null][] = [
      ["e1", { approval: { approved: true, approvedBy: "admin" }, certificate: "PEM" }],
      ["e2", { approval: { approved: false } }],
      ["e3", { certificate: "" }],
      ["e4", null],
    ];
    for (const [name, status] of rows) {
      await db.pool.query("insert into enrollment_requests (org_id, name, status) values ($1, $2, $3)", [
        ORG,
        name,
        status && JSON.stringify(status),
      ]);
    }
    const ers = (s: string) => fields(s, "enrollment_requests", "EnrollmentRequest");
    assert.deepEqual(await ers("status.approval.approved=true"), ["e1"]);
    assert.deepEqual(await ers("status.approval.approved==T"), ["e1"]);
    assert.deepEqual(await ers("status.approval.approved=false"), ["e2"]);
    assert.deepEqual(await ers("status.approval.approved!=true"), ["e2", "e3", "e4"]);
    assert.deepEqual(await ers("status.approval.approved in (true,false)"), ["e1", "e2"]);
    assert.deepEqual(await ers("status.approval.approved notin (true)"), ["e2", "e3", "e4"]);
    assert.deepEqual(await ers("status.approval.approved"), ["e1", "e2"]);
    assert.deepEqual(await ers("!status.approval.approved"), ["e3", "e4"]);
    assert.deepEqual(await ers("status.certificate"), ["e1"]);
    assert.deepEqual(await ers("!status.certificate"), ["e2", "e3", "e4"]);
  });

  test("other kinds: template versions (owner = fleet name), repositories, events, organizations, label pairs", async () => {
    for (const [fleet, name] of [
      ["f1", "v1"],
      ["f1", "v2"],
      ["f2", "v3"],
    ]) {
      await db.pool.query("insert into template_versions (org_id, fleet_name, name, owner) values ($1, $2, $3, $4)", [
        ORG,
        fleet,
        name,
        `Fleet/${fleet}`,
      ]);
    }
    assert.deepEqual(await fields("metadata.owner=f1", "template_versions", "TemplateVersion"), ["v1", "v2"]);
    assert.deepEqual(await fields("metadata.owner!=f1", "template_versions", "TemplateVersion"), ["v3"]);

    await db.pool.query(
      `insert into repositories (org_id, name, spec) values ($1, 'git', '{"type":"git","url":"https://github.com/a/b"}'),
         ($1, 'oci', '{"type":"oci","registry":"quay.io","accessMode":"ReadWrite"}')`,
      [ORG],
    );
    const repos = (s: string) => fields(s, "repositories", "Repository");
    assert.deepEqual(await repos("spec.type=oci"), ["oci"]);
    assert.deepEqual(await repos("spec.url contains github.com"), ["git"]);
    assert.deepEqual(await repos("spec.registry=quay.io,spec.accessMode=ReadWrite"), ["oci"]);
    assert.deepEqual(await repos("!spec.url"), ["oci"]);

    await db.pool.query(
      `insert into events (org_id, created_at, reason, type, involved_kind, involved_name, actor, message, source_component) values
         ($1, '2024-01-01T00:00:00Z', 'ResourceCreated', 'Normal', 'Device', 'd01', 'user:alice', '', 'api'),
         ($1, '2024-02-01T00:00:00Z', 'DeviceDisconnected', 'Warning', 'Device', 'd02', 'service:periodic', '', 'periodic'),
         ($1, '2024-03-01T00:00:00Z', 'ResourceUpdated', 'Normal', 'Fleet', 'f1', 'user:bob', '', 'api')`,
      [ORG],
    );
    const events = async (s: string) =>
      (
        await db.pool.query(
          ...toPg(
            sql`select involved_name as name from events where org_id = ${ORG} and ${fieldRequirementsToSql(parseFieldSelector(s, fieldsByKind.Event))} order by created_at`,
          ),
        )
      ).rows.map((r) => r.name as string);
    assert.deepEqual(await events("involvedObject.kind=Device,involvedObject.name=d01"), ["d01"]);
    assert.deepEqual(await events("type!=Warning"), ["d01", "f1"]);
    assert.deepEqual(await events("reason in (ResourceCreated,ResourceUpdated)"), ["d01", "f1"]);
    assert.deepEqual(await events("actor contains user:"), ["d01", "f1"]);
    assert.deepEqual(await events("metadata.creationTimestamp>=2024-02-01T00:00:00Z"), ["d02", "f1"]);
    assert.deepEqual(await events("metadata.owner"), []);
    assert.deepEqual(await events("!metadata.owner"), ["d01", "d02", "f1"]);
    const [{ id }] = (await db.pool.query("select id::text from events where involved_name = 'd02'")).rows;
    assert.deepEqual(await events(`metadata.name=${id}`), ["d02"]);

    await db.pool.query("insert into organizations (id, display_name) values ($1, 'other') on conflict do nothing", [OTHER_ORG]);
    const orgs = async (s: string) =>
      (
        await db.pool.query(
          ...toPg(
            sql`select id::text as name from organizations where ${fieldRequirementsToSql(parseFieldSelector(s, fieldsByKind.Organization))} order by id`,
          ),
        )
      ).rows.map((r) => r.name as string);
    assert.deepEqual(await orgs(`metadata.name=${OTHER_ORG.toUpperCase()}`), [OTHER_ORG]);
    assert.deepEqual(await orgs(`metadata.name!=${OTHER_ORG}`), [ORG]);
    assert.deepEqual(await orgs(`metadata.name in (${ORG}, ${OTHER_ORG})`), [ORG, OTHER_ORG]);

    // The labels listing's pair filter (device-store's query shape: pairs as l.key, l.value).
    const pairs = async (s: string) =>
      (
        await db.pool.query(
          ...toPg(sql`select distinct l.key || '=' || l.value as name
            from (select labels from devices where org_id = ${ORG}) d, lateral jsonb_each_text(d.labels) as l(key, value)
            where ${fieldRequirementsToSql(parseFieldSelector(s, fieldsByKind.DeviceLabel))} order by 1`),
        )
      ).rows.map((r) => r.name as string);
    assert.deepEqual(await pairs("metadata.labels.keyOrValue=eu"), ["region=eu"]);
    assert.deepEqual(await pairs("metadata.labels.keyOrValue contains ti"), ["tier=core", "tier=edge"]);
    assert.deepEqual(await pairs("metadata.labels.key=env,metadata.labels.value notin (prod,dev)"), ["env=", "env=staging"]);
  });

  test("the planner uses the expression, GIN and last-seen indexes", async () => {
    const client = await db.pool.connect();
    try {
      await client.query("begin");
      // Plans of a table with real statistics (rolled back with the rest): on a near-empty one every index of org_id
      // costs the same and the planner's pick among them is arbitrary.
      await client.query(
        `insert into devices (org_id, name, labels, status)
         select $1, 'plan-' || lpad(i::text, 5, '0'), jsonb_build_object('alias', 'a' || i, 'tier', case when i % 2 = 0 then 'edge' else 'core' end),
                jsonb_build_object('summary', jsonb_build_object('status', case when i % 10 = 0 then 'Degraded' else 'Error' end))
         from generate_series(1, 5000) i`,
        [ORG],
      );
      await client.query("analyze devices");
      await client.query("set local enable_seqscan = off");
      // The GIN index is on labels alone (org_id is not in it): plan label selectors without the org condition.
      const plan = async (frag: SQL, org = true) => {
        const res = await client.query(
          ...toPg(sql`explain select name from devices where ${org ? sql`org_id = ${ORG} and ` : sql``}${frag}`),
        );
        return res.rows.map((r) => r["QUERY PLAN"] as string).join("\n");
      };
      const f = (s: string) => fieldRequirementsToSql(parseFieldSelector(s, fieldsByKind.Device));
      assert.match(await plan(f("status.summary.status=Online")), /devices_summary_status_idx/);
      assert.match(await plan(f("status.summary.status in (Online,Offline)")), /devices_summary_status_idx/);
      assert.match(await plan(f("status.updated.status=UpToDate")), /devices_updated_status_idx/);
      assert.match(await plan(f("status.applicationsSummary.status=Healthy")), /devices_apps_status_idx/);
      assert.match(await plan(f("status.lifecycle.status=Enrolled")), /devices_lifecycle_status_idx/);
      assert.match(await plan(f("metadata.alias=kitchen")), /devices_alias_idx/);
      assert.match(await plan(f("metadata.nameOrAlias=kitchen")), /devices_alias_idx/);
      assert.match(await plan(f("lastSeen>2024-01-01T00:00:00Z")), /device_last_seen_pkey/);
      assert.match(await plan(labelRequirementsToSql(parseLabelSelector("env=prod,tier=edge")), false), /devices_labels_gin/);
      assert.match(await plan(labelRequirementsToSql(parseLabelSelector("tier")), false), /devices_labels_gin/);
      assert.match(await plan(labelRequirementsToSql(parseLabelSelector("env in (dev,staging)")), false), /devices_labels_gin/);
      // A later page of a status selector with many matches: one ordered range of the status index (name is its last
      // column), neither a walk of the primary key filtering every row nor a sort of all the matches.
      const page = await plan(sql`${f("status.summary.status=Degraded")} and name > 'plan-00100' order by name limit 101`);
      assert.match(page, /Index Scan using devices_summary_status_idx/);
      assert.match(page, /name > 'plan-00100'/);
      assert.doesNotMatch(page, /Sort|Filter/);
      await client.query("rollback");
    } finally {
      client.release();
    }
  });
});

/** A drizzle SQL fragment as pg's (text, values), for pool.query / client.query. */
function toPg(q: SQL): [string, unknown[]] {
  const built = new PgDialect().sqlToQuery(q);
  return [built.sql, built.params];
}
