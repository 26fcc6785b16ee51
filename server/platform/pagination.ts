// List paging: limit rules and the opaque continue token (keyset position, never an offset).
import { invalid } from "./errors.js";

/** flightctl: 0 means the default page size; more than the maximum is refused rather than clamped. */
export const DEFAULT_LIMIT = 1000;
export const MAX_LIMIT = 1000;

export function pageSize(limit: number | undefined): number {
  const n = limit ?? 0;
  if (!Number.isInteger(n) || n < 0) throw invalid({ field: "limit", message: `must be between 0 and ${MAX_LIMIT}, got ${n}` });
  if (n > MAX_LIMIT) throw invalid({ field: "limit", message: `must not exceed ${MAX_LIMIT}, got ${n}` });
  return n === 0 ? DEFAULT_LIMIT : n;
}

/** The keyset position a token carries: the last name (resources) or sequence (events) of the previous page. */
export interface ContinuePosition {
  key: string;
  /** Items that remained after the previous page (counted once, on the first page). */
  remaining?: number;
}

export function encodeContinue(pos: ContinuePosition): string {
  return Buffer.from(JSON.stringify({ v: 1, k: pos.key, ...(pos.remaining !== undefined ? { r: pos.remaining } : {}) })).toString(
    "base64url",
  );
}

export function decodeContinue(token: string | undefined): ContinuePosition | undefined {
  if (!token) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { v?: unknown; k?: unknown; r?: unknown };
    if (parsed.v === 1 && typeof parsed.k === "string") {
      return { key: parsed.k, ...(Number.isInteger(parsed.r) && (parsed.r as number) >= 0 ? { remaining: parsed.r as number } : {}) };
    }
  } catch {
    // fall through: any undecodable token is the caller's error
  }
  throw invalid({ field: "continue", message: "is not a token returned by a previous list call" });
}
