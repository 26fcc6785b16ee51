// Shared by the API benchmarks (bench:api, bench:rest): `count` devices inserted straight into the database with
// varied labels: region (10 values), site (1000), model (5), tier (2); summary status mostly Online.
import { performance } from "node:perf_hooks";
import type pg from "pg";

const ORG = "00000000-0000-0000-0000-000000000000";
const statuses = ["Online", "Online", "Online", "Online", "Online", "Online", "Degraded", "Error", "Unknown", "Rebooting"];

/** Inserts the devices in batches, then vacuums and checkpoints; returns how long it took, ms. */
export async function loadDevices(pool: pg.Pool, count: number): Promise<number> {
  const started = performance.now();
  const batch = 10_000;
  for (let from = 0; from < count; from += batch) {
    await pool.query(
      `insert into devices (org_id, name, labels, spec, status)
       select $1, 'dev-' || lpad(i::text, 6, '0'),
              jsonb_build_object('region', 'region-' || (i % 10), 'site', 'site-' || (i % 1000), 'model', 'model-' || (i % 5),
                                 'tier', case when i % 2 = 0 then 'edge' else 'core' end),
              jsonb_build_object('os', jsonb_build_object('image', 'quay.io/example/os:' || (i % 3))),
              jsonb_build_object('summary', jsonb_build_object('status', ($4::text[])[1 + i % 10]),
                                 'updated', jsonb_build_object('status', 'UpToDate'),
                                 'applicationsSummary', jsonb_build_object('status', 'Healthy'),
                                 'lifecycle', jsonb_build_object('status', 'Enrolled'))
       from generate_series($2::int, $3::int) as i`,
      [ORG, from, Math.min(from + batch, count) - 1, statuses],
    );
  }
  // VACUUM flushes the GIN pending list the bulk insert filled (autovacuum would do it in production).
  await pool.query("vacuum analyze devices");
  await pool.query("checkpoint"); // so background writes of the load do not land inside the measurements
  return performance.now() - started;
}
