// AlertService: the caller's organization's alerts, read from Alertmanager for the web UI and the CLI. The request's
// fields become equality matchers written here (quoted, so a value cannot add a matcher), always with
// org_id="<caller's organization>"; the RBAC check is the proto's (alerts list).
import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { AlertListSchema, AlertService, type ListAlertsRequest } from "../../gen/flightctl/v1beta1/alert_service_pb.js";
import type { ServiceDeps } from "../app-deps.js";
import { invalid, precondition } from "../platform/errors.js";
import { callerOf } from "../platform/identity.js";
import { quote } from "../../lib/quote.js";
import { createAlertmanagerClient, type AlertmanagerClient, type AlertQuery, type AmAlert } from "./alertmanager-client.js";
import type { Matcher } from "./matchers.js";
import { ownAlert, scopedFilter } from "./org-scope.js";

const KINDS = ["Device", "Fleet"];

/** Alertmanager's query for the request, in organization `orgId`. */
export function alertQueryOf(req: ListAlertsRequest, orgId: string): AlertQuery {
  if (req.kind && !KINDS.includes(req.kind)) throw invalid({ field: "kind", message: `must be Device or Fleet, got ${quote(req.kind)}` });
  const wanted: [string, string][] = [
    ["kind", req.kind],
    ["resource", req.resource],
    ["fleet", req.fleet],
    ["alertname", req.alertname],
  ];
  const filters: Matcher[] = wanted.filter(([, v]) => v !== "").map(([name, value]) => ({ name, op: "=", value }));
  const states = req.activeOnly ? { active: true, silenced: false, inhibited: false } : {};
  return { filter: scopedFilter(filters, orgId), ...states };
}

const toAlert = (a: AmAlert) => ({
  alertname: a.labels.alertname ?? "",
  kind: a.labels.kind ?? "",
  resource: a.labels.resource ?? "",
  fleet: a.labels.fleet ?? "",
  summary: a.annotations.summary ?? "",
  event: a.annotations.event ?? "",
  startsAt: a.startsAt,
  state: a.status.state,
  silencedBy: a.status.silencedBy ?? [],
  fingerprint: a.fingerprint,
  labels: a.labels,
  annotations: a.annotations,
});

export const alertServiceRegistration = {
  service: AlertService,
  register(router: ConnectRouter, deps: ServiceDeps) {
    const am: AlertmanagerClient | undefined = deps.alertmanagerUrl ? createAlertmanagerClient(deps.alertmanagerUrl) : undefined;
    router.service(AlertService, {
      async listAlerts(req, ctx) {
        const caller = callerOf(ctx);
        const query = alertQueryOf(req, caller.orgId);
        if (!am) throw precondition("alerts are not configured (FLIGHTCTL_ALERTMANAGER_URL is not set)");
        const alerts = (await am.alerts(query)).filter((a) => ownAlert(a, caller.orgId));
        alerts.sort((x, y) => x.startsAt.localeCompare(y.startsAt) || x.fingerprint.localeCompare(y.fingerprint));
        return create(AlertListSchema, { items: alerts.map(toAlert) });
      },
    });
  },
};
