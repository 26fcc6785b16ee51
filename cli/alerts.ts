// flightctl get alerts: the organization's firing alerts through the API's AlertService (which reads Alertmanager
// scoped to the organization), as a table, JSON or YAML. Filters: --alertname, --fleetname, --resource.
import type { JsonObject } from "@bufbuild/protobuf";
import { UsageError } from "./errors.js";
import { ago, table, toJsonText, toYaml, type Output } from "./output.js";
import type { Session } from "./transport.js";

/** Names `flightctl get` accepts for alerts (they are not a resource kind: no get-by-name, no apply). */
export const ALERT_NAMES = ["alert", "alerts"];

export interface AlertFilters {
  alertname?: string;
  fleetname?: string;
  /** "device/NAME", "fleet/NAME" or a bare NAME (either kind). */
  resource?: string;
}

const KINDS: Record<string, string> = { device: "Device", devices: "Device", fleet: "Fleet", fleets: "Fleet" };

/** The request's kind and resource from --resource. */
export function resourceFilter(resource: string | undefined): { kind: string; resource: string } {
  if (!resource) return { kind: "", resource: "" };
  const [t, n, ...rest] = resource.split("/");
  if (n === undefined) return { kind: "", resource: t };
  const kind = KINDS[t.toLowerCase()];
  if (!kind || !n || rest.length) throw new UsageError(`--resource must be device/NAME, fleet/NAME or NAME, got "${resource}"`);
  return { kind, resource: n };
}

/** Prints the alerts in `output` (table, wide: with labels, json, yaml). */
export async function printAlerts(s: Session, output: Output, f: AlertFilters): Promise<void> {
  if (output === "name") throw new UsageError("alerts have no names to print; use -o json, yaml or wide");
  const [{ AlertService, AlertListSchema }, { toJson }] = await Promise.all([
    import("../gen/flightctl/v1beta1/alert_service_pb.js"),
    import("@bufbuild/protobuf"),
  ]);
  const res = await s.client(AlertService).listAlerts({
    orgId: s.org,
    alertname: f.alertname ?? "",
    fleet: f.fleetname ?? "",
    ...resourceFilter(f.resource),
  });
  if (output === "json" || output === "yaml") {
    const list: JsonObject = { apiVersion: "v1beta1", kind: "AlertList", items: (toJson(AlertListSchema, res) as JsonObject).items ?? [] };
    process.stdout.write(output === "json" ? toJsonText(list) : await toYaml(list));
    return;
  }
  const headers = ["ALERTNAME", "KIND", "RESOURCE", "FLEET", "STATE", "STARTED", "SUMMARY"];
  const rows = res.items.map((a) => {
    const row = [a.alertname, a.kind, a.resource, a.fleet || "<none>", a.state, ago(a.startsAt), a.summary];
    if (output !== "wide") return row;
    const labels = Object.entries(a.labels)
      .filter(([k]) => k.startsWith("device_label_"))
      .map(([k, v]) => `${k.slice("device_label_".length)}=${v}`);
    return [...row, labels.join(",") || "<none>"];
  });
  process.stdout.write(table(output === "wide" ? [...headers, "LABELS"] : headers, rows));
}
