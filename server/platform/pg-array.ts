// Arrays as one bound parameter: drizzle's sql`` spreads a JS array into one parameter per element, which breaks
// `= any(...)` and makes statements with thousands of names slow to prepare.
import { sql, type SQL } from "drizzle-orm";

/** A Postgres text[] literal (quoted elements, so any device name is safe). */
export function pgTextArray(items: string[]): string {
  return `{${items.map((s) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`).join(",")}}`;
}

/** `items` as a text[] parameter. */
export const textArray = (items: string[]): SQL => sql`${pgTextArray(items)}::text[]`;
