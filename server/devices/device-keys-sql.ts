// Devices named by (org, name) as a table for one batched statement: k(org_id, name, i), i being each key's 1-based
// position in `keys`, so a query's rows are put back in the callers' order. Passed as two arrays, whose length the
// planner knows (a small batch is then found by primary key).
import { sql, type SQL } from "drizzle-orm";
import { textArray } from "../platform/db.js";

export const deviceKeysTable = (keys: readonly { orgId: string; name: string }[]): SQL =>
  sql`unnest(${textArray(keys.map((k) => k.orgId))}::uuid[], ${textArray(keys.map((k) => k.name))}) with ordinality as k(org_id, name, i)`;
