// Printing resources: YAML and JSON (flightctl's JSON, so `get -o yaml` of an applied file gives the file back),
// names, and tables with flightctl's columns per kind.
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { UsageError } from "./errors.js";

export const OUTPUTS = ["yaml", "json", "wide", "name"] as const;
export type Output = (typeof OUTPUTS)[number] | "table";

export function parseOutput(o: string | undefined): Output {
  if (!o) return "table";
  if ((OUTPUTS as readonly string[]).includes(o)) return o as Output;
  throw new UsageError(`unknown output format "${o}"; use one of ${OUTPUTS.join(", ")}`);
}

/** YAML text of a value; the yaml library is imported here, when first needed, to keep it off every command's start-up. */
export async function toYaml(v: JsonValue): Promise<string> {
  const { stringify } = await import("yaml");
  return stringify(v, { lineWidth: 0, aliasDuplicateObjects: false });
}
export const toJsonText = (v: JsonValue) => `${JSON.stringify(v, null, 2)}\n`;

type Obj = JsonObject & { metadata?: JsonObject; spec?: JsonObject; status?: JsonObject };
const str = (v: JsonValue | undefined) => (v === undefined || v === null ? "" : String(v));
const meta = (o: Obj) => (o.metadata ?? {}) as JsonObject;
const labels = (m: JsonValue | undefined) =>
  Object.entries((m ?? {}) as Record<string, string>)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
const condition = (o: Obj, type: string) => ((o.status?.conditions ?? []) as JsonObject[]).find((c) => c.type === type);
const NONE = "<none>";

/** "5 minutes ago", "2 days ago" (go-humanize style, as flightctl prints). */
export function ago(ts: JsonValue | undefined, now = Date.now()): string {
  if (!ts) return "<never>";
  const s = Math.round((now - Date.parse(String(ts))) / 1000);
  if (!Number.isFinite(s)) return str(ts);
  const future = s < 0;
  const a = Math.abs(s);
  const [n, unit] =
    a < 2
      ? [0, "now"]
      : a < 60
        ? [a, "second"]
        : a < 3600
          ? [Math.floor(a / 60), "minute"]
          : a < 86400
            ? [Math.floor(a / 3600), "hour"]
            : [Math.floor(a / 86400), "day"];
  if (unit === "now") return "now";
  return `${n} ${unit}${n === 1 ? "" : "s"} ${future ? "from now" : "ago"}`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s}s`;
}

/**
 * A device's SYSTEM column: its summary, except while it is being or has been decommissioned, when the lifecycle
 * says more (flightctl's summary has no value for it; the agent of a decommissioned device no longer reports).
 */
function systemStatus(o: Obj): string {
  const lifecycle = str((o.status?.lifecycle as JsonObject | undefined)?.status);
  if (lifecycle === "Decommissioning" || lifecycle === "Decommissioned") return lifecycle;
  return str((o.status?.summary as JsonObject | undefined)?.status);
}

type Columns = { headers: string[]; row(o: Obj): string[] };

/** flightctl's table columns per kind (internal/cli/display/table.go), with LABELS added by -o wide. */
export function columns(kind: string, opts: { wide?: boolean; summary?: boolean } = {}): Columns {
  const wide = (c: Columns): Columns =>
    opts.wide ? { headers: [...c.headers, "LABELS"], row: (o) => [...c.row(o), labels(meta(o).labels)] } : c;
  switch (kind) {
    case "Device":
      return wide({
        headers: ["NAME", "ALIAS", "OWNER", "SYSTEM", "UPDATED", "APPLICATIONS", "LAST SEEN"],
        row: (o) => [
          str(meta(o).name),
          str((meta(o).labels as JsonObject | undefined)?.alias),
          str(meta(o).owner) || NONE,
          systemStatus(o),
          str((o.status?.updated as JsonObject | undefined)?.status),
          str((o.status?.applicationsSummary as JsonObject | undefined)?.status),
          ago(o.status?.lastSeen),
        ],
      });
    case "Fleet":
      return wide({
        headers: ["NAME", "OWNER", "SELECTOR", "VALID", ...(opts.summary ? ["DEVICES"] : [])],
        row: (o) => [
          str(meta(o).name),
          str(meta(o).owner) || NONE,
          o.spec?.selector ? labels((o.spec.selector as JsonObject).matchLabels) : NONE,
          str(condition(o, "Valid")?.status) || "Unknown",
          ...(opts.summary ? [str((o.status?.devicesSummary as JsonObject | undefined)?.total ?? 0)] : []),
        ],
      });
    case "EnrollmentRequest":
      return wide({
        headers: ["NAME", "APPROVAL", "APPROVER", "APPROVED LABELS"],
        row: (o) => {
          const a = o.status?.approval as JsonObject | undefined;
          const denied = condition(o, "Denied")?.status === "True";
          return [
            str(meta(o).name),
            a ? (a.approved ? "Approved" : "Denied") : denied ? "Denied" : "Pending",
            a ? str(a.approvedBy) : NONE,
            a ? labels(a.labels) : "",
          ];
        },
      });
    case "CertificateSigningRequest":
      return wide({
        headers: ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"],
        row: (o) => {
          const created = meta(o).creationTimestamp;
          const exp = o.spec?.expirationSeconds;
          let cond = ["Approved", "Denied", "Failed"].find((t) => condition(o, t)?.status === "True") ?? "Pending";
          if (o.status?.certificate) cond += ",Issued";
          return [
            str(meta(o).name),
            created ? duration(Math.max(0, Math.round((Date.now() - Date.parse(String(created))) / 1000))) : NONE,
            str(o.spec?.signerName),
            str(o.spec?.username) || NONE,
            exp ? duration(Number(exp)) : NONE,
            cond,
          ];
        },
      });
    case "Repository":
      return wide({
        headers: ["NAME", "TYPE", "REPOSITORY URL", "ACCESSIBLE"],
        row: (o) => [
          str(meta(o).name),
          str(o.spec?.type),
          str(o.spec?.url ?? o.spec?.registry),
          str(condition(o, "Accessible")?.status) || "Unknown",
        ],
      });
    case "ResourceSync":
      return wide({
        headers: ["NAME", "REPOSITORY", "PATH", "REVISION", "ACCESSIBLE", "SYNCED", "LAST SYNC"],
        row: (o) => {
          const synced = condition(o, "Synced");
          return [
            str(meta(o).name),
            str(o.spec?.repository),
            str(o.spec?.path),
            str(o.spec?.targetRevision),
            str(condition(o, "Accessible")?.status) || "Unknown",
            str(synced?.status) || "Unknown",
            synced ? ago(synced.lastTransitionTime) : "Unknown",
          ];
        },
      });
    case "TemplateVersion":
      return wide({ headers: ["FLEET", "NAME"], row: (o) => [str(o.spec?.fleet), str(meta(o).name)] });
    case "Event":
      return {
        headers: ["AGE", "INVOLVEDOBJECT.KIND", "INVOLVEDOBJECT.NAME", "TYPE", "MESSAGE"],
        row: (o) => {
          const io = (o.involvedObject ?? {}) as JsonObject;
          return [ago(meta(o).creationTimestamp), str(io.kind), str(io.name), str(o.type), str(o.message)];
        },
      };
    case "Organization":
      return {
        headers: ["NAME", "DISPLAY NAME", "EXTERNAL ID"],
        row: (o) => [str(meta(o).name), str(o.spec?.displayName) || NONE, str(o.spec?.externalId) || NONE],
      };
    case "AuthProvider":
      return wide({
        headers: ["NAME", "TYPE", "ISSUER", "ENABLED"],
        row: (o) => [
          str(meta(o).name),
          str(o.spec?.providerType),
          str(o.spec?.issuer ?? o.spec?.authorizationUrl),
          str(o.spec?.enabled ?? true),
        ],
      });
    default:
      return { headers: ["NAME"], row: (o) => [str(meta(o).name)] };
  }
}

/** Aligns rows in columns separated by three spaces (kubectl's look). */
export function table(headers: string[] | undefined, rows: string[][]): string {
  const all = headers ? [headers, ...rows] : rows;
  if (all.length === 0) return "";
  const widths = all[0].map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return `${all
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] + 3)))
        .join("")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** The device-count tables of `get devices --summary` (flightctl's layout). */
export function devicesSummary(summary: JsonObject | undefined): string {
  const s = summary ?? {};
  const rows: string[][] = [];
  for (const [type, key] of [
    ["SYSTEM", "summaryStatus"],
    ["UPDATED", "updateStatus"],
    ["APPLICATIONS", "applicationStatus"],
  ] as const) {
    for (const [k, v] of Object.entries((s[key] ?? {}) as Record<string, number>)) rows.push([type, k, String(v)]);
  }
  return `DEVICES\n${str(s.total ?? 0)}\n\n${table(["STATUS TYPE", "STATUS", "COUNT"], rows)}`;
}

/** `kind/name` lines (-o name). */
export const names = (kind: string, items: Obj[]) => items.map((o) => `${kind.toLowerCase()}/${str(meta(o).name)}\n`).join("");
