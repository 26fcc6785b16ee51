// What a fuzz case must never get back: Internal, Unknown or DataLoss; an HTTP 5xx that is no proper Unavailable /
// Unimplemented answer of the Connect protocol; no answer within the bound; a dead connection instead of an answer.
// Failures are grouped into classes by code and message shape, so 600 cases of one bug read as one line.
import { Code } from "@connectrpc/connect";
import type { Outcome, Protocol } from "./protocols.js";

const FORBIDDEN = new Set<Code>([Code.Internal, Code.Unknown, Code.DataLoss]);
/** 5xx statuses the Connect protocol itself gives these codes. */
const CONNECT_5XX_OK = new Set<Code | "ok" | "http-4xx">([Code.Unavailable, Code.Unimplemented, Code.DeadlineExceeded]);

/** Why `o` is a failure, or undefined when it is an acceptable answer. */
export function verdict(o: Outcome, p: Protocol): string | undefined {
  if (o.noAnswer === "timeout") return "no answer within the bound";
  if (o.noAnswer === "transport") return "no answer (connection or stream failed)";
  if (typeof o.code === "number" && FORBIDDEN.has(o.code)) return `code ${Code[o.code]}`;
  if (o.http !== undefined && o.http >= 500 && !(p.wire === "connect" && CONNECT_5XX_OK.has(o.code))) return `HTTP ${o.http}`;
  return undefined;
}

export const codeName = (c: Outcome["code"]) => (typeof c === "number" ? Code[c] : c);

/** The shape of a message: quoted parts, numbers and long tails folded, so one bug is one class. */
export function messageShape(message: string): string {
  return message
    .replace(/"[^"]*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, "<uuid>")
    .replace(/\d+/g, "N")
    .replace(/\s+/g, " ")
    .slice(0, 90);
}
