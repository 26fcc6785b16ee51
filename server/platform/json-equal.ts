// Equality of JSON documents (what a jsonb column stores), for the hot comparisons of a report with what is stored:
// node's isDeepStrictEqual checks prototypes, symbols and property descriptors on every object, which JSON values
// do not have, and was most of a status report's compare. The JSON view also decides the edge cases: a property
// whose value is undefined is absent (JSON.stringify drops it), and 0 equals -0 (both are stored as 0).

/** Whether `a` and `b` are the same JSON document (key order does not matter, array order does). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const array = Array.isArray(a);
  if (array !== Array.isArray(b)) return false;
  if (array) {
    const x = a as unknown[];
    const y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!jsonEqual(x[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let keys = 0;
  for (const k in x) {
    const v = x[k];
    if (v === undefined) continue;
    // Own properties only: y["__proto__"] or y["toString"] would otherwise find Object.prototype's.
    if (!Object.hasOwn(y, k) || !jsonEqual(v, y[k])) return false;
    keys++;
  }
  for (const k in y) if (y[k] !== undefined) keys--;
  return keys === 0;
}
