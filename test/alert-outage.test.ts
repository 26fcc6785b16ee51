// Alertmanager unreachable for two minutes: the exporter keeps reading events, the alerts wait in Postgres, and when
// Alertmanager is back they arrive: an alert raised during the outage is notified once, one resolved during the outage
// is notified resolved once, none is lost or doubled. The outage is cut in the network (a proxy between exporter and
// Alertmanager), not a restart of Alertmanager: a restarted Alertmanager forgets its alerts and, unless it saved its
// notification log on the way down, will not notify a resolution of an alert it no longer knows it sent; that is
// Alertmanager's own behaviour, not the exporter's, and made this test fail about one run in four.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { deviceReport, has, seen, simulatedAgent, startAlertEnv, startTestExporter } from "./helpers/alerts.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { startCuttableProxy, type CuttableProxy } from "./helpers/cuttable-proxy.js";

/** How long Alertmanager stays down (the two minutes). */
const OUTAGE_MS = 120_000;

let env: Awaited<ReturnType<typeof startAlertEnv>>;
let proxy: CuttableProxy;
before(async () => {
  env = await startAlertEnv();
  // The exporter reaches Alertmanager through the proxy the test cuts.
  proxy = await startCuttableProxy(Number(new URL(env.am.url).port));
  await env.exporter.close();
  env.exporter = await startTestExporter(env.t.db.url, proxy.url);
});
after(async () => {
  await env?.close();
  await proxy?.close();
  await assertNoOpenHandles();
});

test("alerts raised and resolved while Alertmanager is down arrive when it is back, once each", { timeout: 300_000 }, async () => {
  const { t, am, agent, exporter } = env;
  const devices = createClient(DeviceService, t.transport);
  for (const name of ["before-1", "during-1"])
    await devices.replaceDevice({ name, device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: {} } });
  const before = simulatedAgent(agent, DEFAULT_ORG_ID, "before-1");
  const during = simulatedAgent(agent, DEFAULT_ORG_ID, "during-1");
  await before.report(deviceReport({ disk: "Warning" }));
  await during.report(deviceReport());
  await am.webhook.waitFor(has("DeviceDiskWarning", "before-1", "firing"));

  proxy.cut();
  const down = Date.now();
  await before.report(deviceReport());
  await during.report(deviceReport({ cpu: "Critical" }));
  await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - down)));
  const failed = await (await fetch(`http://127.0.0.1:${exporter.port}/metrics`)).text();
  assert.match(failed, /flightctl_alert_exporter_alertmanager_requests_total\{status="network_error"\} [1-9]/);
  assert.match(failed, /flightctl_alert_exporter_alertmanager_retries_total [1-9]/);
  proxy.restore();

  const received = () =>
    am.webhook.notifications.map((n) => n.alerts.map((a) => `${a.labels.resource}/${a.labels.alertname}:${a.status}`).join(","));
  await am.webhook.waitFor(has("DeviceCPUCritical", "during-1", "firing"), 60_000).catch((e) => assert.fail(`${e.message}: ${received()}`));
  await am.webhook
    .waitFor(has("DeviceDiskWarning", "before-1", "resolved"), 60_000)
    .catch((e) => assert.fail(`${e.message}: ${received()}`));
  await new Promise((r) => setTimeout(r, 4000));
  assert.deepEqual(seen(am.webhook.notifications, "DeviceDiskWarning", "before-1"), ["firing", "resolved"]);
  assert.deepEqual(seen(am.webhook.notifications, "DeviceCPUCritical", "during-1"), ["firing"]);
  assert.deepEqual(
    (await am.alerts()).map((a) => `${a.labels.resource}/${a.labels.alertname}`),
    ["during-1/DeviceCPUCritical"],
  );
});
