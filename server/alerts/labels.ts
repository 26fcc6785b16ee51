// The labels and annotations of an alert: the contract of docs/alerts.md that the proxy, the API, the UI and the CLI
// read. Alertmanager tells alerts apart by their labels, so they are built once, when the alert starts, and kept.

/** What the labels are built from. */
export interface AlertSubject {
  alertname: string;
  orgId: string;
  kind: string;
  resource: string;
  /** The device's fleet, or a fleet alert's own fleet. */
  fleet?: string;
  /** The device's labels. */
  deviceLabels?: Record<string, string>;
}

/** Prefix of the device's labels among the alert's. */
export const DEVICE_LABEL_PREFIX = "device_label_";

/** A label key as an Alertmanager label name: every character outside [a-zA-Z0-9_] becomes "_". */
export const sanitizeLabelKey = (key: string) => key.replace(/[^a-zA-Z0-9_]/g, "_");

export function alertLabels(s: AlertSubject): Record<string, string> {
  const labels: Record<string, string> = {};
  // The device's labels first: a fixed label always wins over one of theirs.
  for (const [k, v] of Object.entries(s.deviceLabels ?? {})) labels[DEVICE_LABEL_PREFIX + sanitizeLabelKey(k)] = v;
  Object.assign(labels, { alertname: s.alertname, resource: s.resource, kind: s.kind, org_id: s.orgId });
  if (s.fleet) labels.fleet = s.fleet;
  return labels;
}

/** `summary`: the event's message; `event`: the event's name (metadata.name). */
export const alertAnnotations = (summary: string, event: string): Record<string, string> => ({ summary, event });

/** The fleet a device belongs to, from its owner ("Fleet/<name>"). */
export const fleetOfOwner = (owner: string | null | undefined) => (owner?.startsWith("Fleet/") ? owner.slice("Fleet/".length) : undefined);
