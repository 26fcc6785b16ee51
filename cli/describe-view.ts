// What `flightctl describe` prints (kubectl's layout): the resource's key facts, its conditions and its recent
// events. Pure: the command fetches, this renders.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { ago, table } from "./output.js";

const str = (v: JsonValue | undefined) => (v === undefined || v === null ? "" : String(v));
const obj = (v: JsonValue | undefined) => (v && typeof v === "object" && !Array.isArray(v) ? (v as JsonObject) : {});
const NONE = "<none>";

/** "2026-05-01T10:00:00Z (5 minutes ago)". */
const when = (ts: JsonValue | undefined, now: number) => (ts ? `${str(ts)} (${ago(ts, now)})` : "<never>");

/** The kind-specific lines after Name/Kind/Labels/Owner/Created. */
function kindFields(kind: string, o: JsonObject, now: number): [string, string][] {
  const spec = obj(o.spec);
  const status = obj(o.status);
  const ann = obj(obj(o.metadata).annotations);
  const status_ = (v: JsonValue | undefined) => {
    const s = obj(v);
    return s.status ? `${str(s.status)}${s.info ? ` (${str(s.info)})` : ""}` : "Unknown";
  };
  switch (kind) {
    case "Device":
      return [
        ["Status", status_(status.summary)],
        ["Updated", status_(status.updated)],
        ["Applications", status_(status.applicationsSummary)],
        ["Lifecycle", status_(status.lifecycle)],
        ["Last Seen", when(status.lastSeen, now)],
        ["Rendered Version", str(ann["device-controller/renderedVersion"]) || NONE],
        ["Running Version", str(obj(status.config).renderedVersion) || NONE],
        ["Template Version", str(ann["fleet-controller/renderedTemplateVersion"]) || NONE],
        ["OS Image", str(obj(status.os).image) || str(obj(spec.os).image) || NONE],
        ["Agent", [str(obj(status.systemInfo).agentVersion), str(obj(status.systemInfo).hostname)].filter(Boolean).join(" on ") || NONE],
      ];
    case "Fleet": {
      const sel = obj(obj(spec.selector).matchLabels);
      const summary = obj(status.devicesSummary);
      return [
        [
          "Selector",
          Object.entries(sel)
            .map(([k, v]) => `${k}=${str(v)}`)
            .join(",") || NONE,
        ],
        ["Template Version", str(ann["fleet-controller/templateVersion"]) || NONE],
        ["Deploying Version", str(ann["fleet-controller/deployingTemplateVersion"]) || NONE],
        ["Devices", str(summary.total ?? 0)],
      ];
    }
    case "EnrollmentRequest": {
      const a = obj(status.approval);
      return [
        ["Approval", status.approval ? (a.approved ? `Approved by ${str(a.approvedBy)}` : "Denied") : "Pending"],
        [
          "Requested Labels",
          Object.entries(obj(spec.labels))
            .map(([k, v]) => `${k}=${str(v)}`)
            .join(",") || NONE,
        ],
      ];
    }
    default:
      return [];
  }
}

/** Events as ListEvents returns them (newest first); shown oldest first, as kubectl does. */
export function renderDescribe(kind: string, o: JsonObject, events: JsonObject[] | undefined, now = Date.now()): string {
  const m = obj(o.metadata);
  const labels = Object.entries(obj(m.labels)).map(([k, v]) => `${k}=${str(v)}`);
  const fields: [string, string][] = [
    ["Name", str(m.name)],
    ["Kind", kind],
    ["Labels", labels.join("\n") || NONE],
    ["Owner", str(m.owner) || NONE],
    ["Created", when(m.creationTimestamp, now)],
    ...kindFields(kind, o, now),
  ];
  const width = Math.max(...fields.map(([k]) => k.length)) + 2;
  const lines = fields.flatMap(([k, v]) => v.split("\n").map((l, i) => `${(i ? "" : `${k}:`).padEnd(width)}${l}`));
  const conditions = (obj(o.status).conditions ?? []) as JsonObject[];
  lines.push("Conditions:");
  if (conditions.length === 0) lines.push(`  ${NONE}`);
  else
    lines.push(
      ...table(
        ["TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"],
        conditions.map((c) => [
          str(c.type),
          str(c.status),
          str(c.reason),
          c.lastTransitionTime ? ago(c.lastTransitionTime, now) : "",
          str(c.message),
        ]),
      )
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  lines.push("Events:");
  if (events === undefined) lines.push("  (not shown: listing events is not allowed for you)");
  else if (events.length === 0) lines.push(`  ${NONE}`);
  else
    lines.push(
      ...table(
        ["AGE", "TYPE", "REASON", "MESSAGE"],
        [...events].reverse().map((e) => [ago(obj(e.metadata).creationTimestamp, now), str(e.type), str(e.reason), str(e.message)]),
      )
        .trimEnd()
        .split("\n")
        .map((l) => `  ${l}`),
    );
  return `${lines.join("\n")}\n`;
}
