// Alert exporter tests: an in-process exporter with short intervals, a simulated agent reporting device status the
// way the agent does (through the agent service), and what the webhook receiver saw per alert.
import pino from "pino";
import { create } from "@bufbuild/protobuf";
import { startAlertExporter, type AlertExporter, type AlertExporterSettings } from "../../server/alerts/exporter.js";
import { DEFAULT_RETRY } from "../../server/alerts/alert-poster.js";
import { createDeviceAgentService } from "../../server/devices/device-agent-service.js";
import { createLastSeenRecorder } from "../../server/devices/last-seen.js";
import { startRenderNotifier } from "../../server/devices/render-notifier.js";
import { createDb } from "../../server/platform/db.js";
import { startTestApp } from "./app.js";
import { startAlertmanager } from "./alertmanager.js";
import { DeviceSchema, type DeviceStatus } from "../../gen/flightctl/v1beta1/device_pb.js";
import type { WebhookNotification } from "./alertmanager.js";

/** Settings for tests: events read every 200 ms, everything re-sent every 5 s, a waiting copy tries every 200 ms. */
export function testExporterSettings(alertmanagerUrl: string, over: Partial<AlertExporterSettings> = {}): AlertExporterSettings {
  return {
    alertmanagerUrl,
    pollMs: 200,
    resendMs: 5000,
    lockRetryMs: 200,
    address: "127.0.0.1:0",
    retry: { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 },
    ...over,
  };
}

export function startTestExporter(
  databaseUrl: string,
  alertmanagerUrl: string,
  over: Partial<AlertExporterSettings> = {},
): Promise<AlertExporter> {
  return startAlertExporter({
    settings: testExporterSettings(alertmanagerUrl, over),
    databaseUrl,
    log: pino({ level: process.env.LOG_LEVEL ?? "silent" }, pino.destination(2)),
  });
}

/** A device's status as its agent reports it: online, rendered version 1, with these resource levels and apps. */
export function deviceReport(
  resources: { cpu?: string; memory?: string; disk?: string } = {},
  apps: { name: string; status: string }[] = [],
) {
  return {
    summary: { status: "Online" },
    config: { renderedVersion: "1" },
    resources: { cpu: "Healthy", memory: "Healthy", disk: "Healthy", ...resources },
    applications: apps.map((a) => ({ name: a.name, appType: "compose", status: a.status, ready: "1/1", restarts: 0, embedded: false })),
    applicationsSummary: {},
  };
}

/** A simulated agent of device `name` in `orgId`: report(status) goes through the agent service as a real report does. */
export function simulatedAgent(agent: ReturnType<typeof createDeviceAgentService>, orgId: string, name: string) {
  const caller = { orgId, identity: { kind: "device" as const, actor: `device:${name}`, username: name, deviceName: name, orgId } };
  return {
    report: async (status: object): Promise<DeviceStatus | undefined> =>
      (await agent.replaceStatus(caller, name, create(DeviceSchema, { status: status as never }))).status,
  };
}

/**
 * The statuses ("firing", "resolved") of alert `alertname` of `resource` in the webhook's notifications, in order.
 * Alertmanager delivers at least once: a POST it gave up on (a slow receiver under load) is sent again, so a
 * notification repeating the alert's last one (same status, same startsAt) is a redelivery and counted once. A flap
 * (resolved, then firing again) still shows, as a new status or a new startsAt.
 */
export function seen(notifications: readonly WebhookNotification[], alertname: string, resource: string): string[] {
  const out: string[] = [];
  let last = "";
  for (const n of notifications) {
    for (const a of n.alerts) {
      if (a.labels.alertname !== alertname || a.labels.resource !== resource) continue;
      const key = `${a.status} ${a.startsAt}`;
      if (key !== last) out.push(a.status);
      last = key;
    }
  }
  return out;
}

/** Whether a notification has alert `alertname` of `resource` with `status`. */
export const has = (alertname: string, resource: string, status: "firing" | "resolved") => (n: WebhookNotification) =>
  n.alerts.some((a) => a.labels.alertname === alertname && a.labels.resource === resource && a.status === status);

/** A test app, a real Alertmanager, an in-process exporter posting to it, and an agent service for simulated agents. */
export async function startAlertEnv(over: Partial<AlertExporterSettings> = {}) {
  const t = await startTestApp();
  const cleanups: (() => Promise<void>)[] = [() => t.close()];
  const close = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const am = await startAlertmanager();
    cleanups.push(() => am.close());
    const db = createDb(t.db.pool);
    const silent = pino({ level: "silent" });
    const lastSeen = createLastSeenRecorder(db, silent, { flushMs: 60_000 });
    cleanups.push(() => lastSeen.close());
    const notifier = await startRenderNotifier(t.db.url, silent);
    cleanups.push(() => notifier.close());
    const env = {
      t,
      am,
      db,
      lastSeen,
      agent: createDeviceAgentService({ db, lastSeen, notifier }),
      exporter: await startTestExporter(t.db.url, am.url, over),
      close,
    };
    // The exporter may be replaced by a test (env.exporter = another copy): close whichever is current.
    cleanups.push(() => env.exporter.close());
    return env;
  } catch (e) {
    await close();
    throw e;
  }
}
