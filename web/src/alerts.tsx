// Firing alerts read through AlertService (the server reads Alertmanager, scoped to this organization): the hook the
// alerts page, the device table and the overview share, and the count badge. Without an Alertmanager configured the
// API says FailedPrecondition, shown as a note (a deployment choice, not a failure).
import { Code, ConnectError } from "@connectrpc/connect";
import { useCallback, useEffect, useState } from "preact/hooks";
import { AlertService, type Alert, type ListAlertsRequest } from "../../gen/flightctl/v1beta1/alert_service_pb.js";
import { client } from "./api.js";
import { useInterval, useRetryAfterError } from "./common.js";
import { Link } from "./router.js";

const REFRESH_MS = 30_000;

export interface AlertsState {
  alerts?: Alert[];
  error?: string;
  /** No Alertmanager behind the API. */
  unconfigured?: boolean;
}

/** The organization's alerts matching `filter`, now and every 30 s (5 s after a failure). */
export function useAlerts(orgId: string, filter: Partial<Pick<ListAlertsRequest, "kind" | "fleet" | "resource">> = {}): AlertsState {
  const [state, setState] = useState<AlertsState>({});
  const key = JSON.stringify([orgId, filter]);
  const load = useCallback(() => {
    client(AlertService)
      .listAlerts({ orgId, ...filter })
      .then(
        (l) => setState({ alerts: l.items }),
        (e) => {
          const err = ConnectError.from(e);
          setState(err.code === Code.FailedPrecondition ? { unconfigured: true } : { error: err.rawMessage });
        },
      );
  }, [key]);
  useEffect(load, [load]);
  useInterval(load, REFRESH_MS);
  useRetryAfterError(state.error, load);
  return state;
}

/** How many alerts each device has. */
export function countByDevice(alerts: Alert[] | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of alerts ?? []) if (a.kind === "Device") counts.set(a.resource, (counts.get(a.resource) ?? 0) + 1);
  return counts;
}

/** A red count badge linking to the alerts page; nothing when there are none. */
export function AlertBadge({ count, href }: { count: number; href: string }) {
  if (!count) return null;
  return (
    <Link href={href} class="badge bad alert-badge">
      {count}
      <span class="sr-only"> alert{count === 1 ? "" : "s"}</span>
    </Link>
  );
}
