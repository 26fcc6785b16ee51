// Timestamps JSON cannot carry: protobuf binary accepts any seconds and nanos, but a resource is stored as proto JSON,
// which allows only 0001-01-01 to 9999-12-31 and nanos in [0, 1e9). Such input is the caller's error; this names it.
import type { DescMessage } from "@bufbuild/protobuf";

const MIN_SECONDS = -62135596800n; // 0001-01-01T00:00:00Z
const MAX_SECONDS = 253402300799n; // 9999-12-31T23:59:59Z

function outOfRange(t: { seconds?: bigint; nanos?: number }): boolean {
  const s = t.seconds ?? 0n;
  const n = t.nanos ?? 0;
  return s < MIN_SECONDS || s > MAX_SECONDS || n < 0 || n > 999_999_999;
}

/** The JSON path (e.g. "status.conditions[0].lastTransitionTime") of the first Timestamp out of range in `msg`. */
export function badTimestampPath(desc: DescMessage, msg: object, prefix = ""): string | undefined {
  const m = msg as Record<string, unknown>;
  for (const field of desc.fields) {
    const message = field.message;
    if (!message || (message.typeName.startsWith("google.protobuf.") && message.typeName !== "google.protobuf.Timestamp")) continue;
    const value = field.oneof
      ? (m[field.oneof.localName] as { case?: string; value?: unknown } | undefined)?.case === field.localName
        ? (m[field.oneof.localName] as { value: unknown }).value
        : undefined
      : m[field.localName];
    if (value === undefined || value === null) continue;
    const at = prefix ? `${prefix}.${field.jsonName}` : field.jsonName;
    const check = (v: unknown, path: string): string | undefined =>
      message.typeName === "google.protobuf.Timestamp"
        ? outOfRange(v as { seconds?: bigint; nanos?: number })
          ? path
          : undefined
        : badTimestampPath(message, v as object, path);
    let found: string | undefined;
    if (field.fieldKind === "list") (value as unknown[]).some((v, i) => (found = check(v, `${at}[${i}]`)));
    else if (field.fieldKind === "map") Object.entries(value as object).some(([k, v]) => (found = check(v, `${at}[${JSON.stringify(k)}]`)));
    else found = check(value, at);
    if (found) return found;
  }
  return undefined;
}
