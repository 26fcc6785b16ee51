// Write-only secrets (passwords, keys, tokens): masked in every response and, when a client sends the mask back
// unchanged (get → edit → replace), the stored value is kept. Same placeholder as flightctl.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";

export const MASK = "*****";

/** A path of keys inside a resource document, e.g. ["spec", "httpConfig", "password"]. */
export type SecretPath = readonly string[];

function parentOf(doc: JsonObject, path: SecretPath): JsonObject | undefined {
  let cur: JsonValue | undefined = doc;
  for (const key of path.slice(0, -1)) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as JsonObject)[key];
  }
  return cur !== null && typeof cur === "object" && !Array.isArray(cur) ? (cur as JsonObject) : undefined;
}

/** Returns a copy of `doc` with every present secret replaced by the mask. */
export function maskSecrets<T extends JsonObject>(doc: T, paths: readonly SecretPath[]): T {
  if (paths.length === 0) return doc;
  const out = structuredClone(doc);
  for (const p of paths) {
    const parent = parentOf(out, p);
    const key = p[p.length - 1];
    if (parent && typeof parent[key] === "string") parent[key] = MASK;
  }
  return out;
}

/** In place: where `incoming` carries the mask, put back the value stored in `existing`. */
export function restoreMaskedSecrets(incoming: JsonObject, existing: JsonObject | null, paths: readonly SecretPath[]): void {
  for (const p of paths) {
    const target = parentOf(incoming, p);
    const key = p[p.length - 1];
    if (!target || target[key] !== MASK) continue;
    const stored = existing ? parentOf(existing, p)?.[key] : undefined;
    if (typeof stored === "string") target[key] = stored;
  }
}
