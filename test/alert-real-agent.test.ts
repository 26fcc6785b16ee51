// The alert exporter with a REAL agent (test/alert-exporter.test.ts has the simulated ones): the agent reads its
// disk usage from this host (statfs of its root), a disk monitor in its device spec with a threshold below that usage
// makes it report disk Critical, the service writes DeviceDiskCritical, the exporter posts it to a real Alertmanager
// and the webhook receiver sees it firing with the label contract of docs/alerts.md. A threshold above the usage
// makes the agent report Healthy again: DeviceDiskNormal, and the webhook sees the alert resolved.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import { parse, stringify } from "yaml";
import { createAgent, type Agent } from "../agent/agent.js";
import { parseAgentConfig } from "../agent/config.js";
import { recordingExecutor } from "../agent/host.js";
import { startResourceMonitor, type ResourceMonitor } from "../agent/resources.js";
import type { AlertExporter } from "../server/alerts/exporter.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { EnrollmentRequestService } from "../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { DEFAULT_ORG_ID } from "../server/platform/identity.js";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "./helpers/agents.js";
import { has, seen, startTestExporter } from "./helpers/alerts.js";
import { startAlertmanager, type AlertmanagerServer } from "./helpers/alertmanager.js";

/** Every wait: the machine may be loaded (CI runs beside other work). */
const WAIT_MS = 180_000;

let t: TestApi;
let admin: string;
let dir: string;
let am: AlertmanagerServer;
let exporter: AlertExporter;
let monitor: ResourceMonitor | undefined;
let agent: Agent | undefined;
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });

before(async () => {
  // The worker renders the device's spec for the agent.
  t = await startTestApi({ worker: true });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  dir = mkdtempSync(join(tmpdir(), "fc-alert-agent-"));
  am = await startAlertmanager();
  exporter = await startTestExporter(t.db.url, am.url);
});

after(async () => {
  await agent?.stop();
  monitor?.close();
  await exporter?.close();
  await am?.close();
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

/** Used percent of the filesystem holding `path` as the agent counts it: (blocks - available) / blocks. */
function usedPercent(path: string): number {
  const s = statfsSync(path);
  return (100 * (s.blocks - s.bavail)) / s.blocks;
}

/** A disk monitor of the device's "/" (the agent's root) with one Critical rule at `percentage`. */
const diskMonitor = (percentage: number) => [
  {
    monitorType: "Disk",
    path: "/",
    samplingInterval: "1s",
    alertRules: [{ severity: "Critical", percentage, duration: "2s", description: `disk above ${percentage} %` }],
  },
];

test("a real agent's disk over its Critical threshold raises DeviceDiskCritical; raising the threshold resolves it", async (ctx) => {
  const root = join(dir, "root");
  mkdirSync(join(root, "proc/sys/kernel/random"), { recursive: true });
  writeFileSync(join(root, "proc/sys/kernel/random/boot_id"), "boot-1\n");
  const config = parseAgentConfig(stringify(parse(await agentConfigYaml(t, admin, join(dir, "data"), root))));
  // Real readings of this host, sampled every second: the agent's own monitor samples every 60 s whatever the spec's
  // samplingInterval says, which would only make this test slower.
  monitor = startResourceMonitor(root, { sampleMs: 1000 });
  agent = createAgent({
    config,
    log: pino({ level: "silent" }),
    exec: recordingExecutor(),
    resources: monitor,
    appStatus: "recorded",
    console: { enabled: false },
    onEnrollmentRequested: async (n) => {
      await userClient(t, EnrollmentRequestService).approveEnrollmentRequest({ name: n, approval: { approved: true } }, auth());
    },
  });
  await agent.start();
  const name = agent.name;
  const devices = userClient(t, DeviceService);
  const online = await waitFor(
    "the device online",
    async () => {
      const d = await devices.getDevice({ name }, auth());
      return d.status?.summary?.status === "Online" && d;
    },
    WAIT_MS,
  );
  const labels = online.metadata!.labels;
  const putSpec = (percentage: number) =>
    devices.replaceDevice(
      {
        name,
        device: {
          apiVersion: "flightctl.io/v1beta1",
          kind: "Device",
          metadata: { name, labels },
          spec: { resources: diskMonitor(percentage) },
        },
      },
      auth(),
    );

  const used = usedPercent(root);
  const low = Math.max(0, Math.floor(used - 5));
  ctx.diagnostic(`host disk of ${root}: ${used.toFixed(2)} % used; Critical threshold ${low} %`);
  await putSpec(low);
  await waitFor(
    "disk Critical reported by the agent",
    async () => (await devices.getDevice({ name }, auth())).status?.resources?.disk === "Critical",
    WAIT_MS,
  );
  const fired = await am.webhook.waitFor(has("DeviceDiskCritical", name, "firing"), WAIT_MS);
  ctx.diagnostic(`webhook payload: ${JSON.stringify(fired)}`);
  const alert = fired.alerts.find((a) => a.labels.alertname === "DeviceDiskCritical" && a.labels.resource === name)!;
  const expected: Record<string, string> = { alertname: "DeviceDiskCritical", resource: name, kind: "Device", org_id: DEFAULT_ORG_ID };
  // The device's labels (the agent's default-labels, site=lab) under the prefix; it is in no fleet.
  for (const [k, v] of Object.entries(labels)) expected[`device_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
  assert.equal(labels.site, "lab");
  assert.deepEqual(alert.labels, expected);
  const { rows } = await t.db.pool.query(
    `select id::text, message from events where involved_name = $1 and reason = 'DeviceDiskCritical' order by id`,
    [name],
  );
  assert.equal(rows.length, 1, "one DeviceDiskCritical event");
  assert.deepEqual(alert.annotations, { summary: rows[0].message, event: rows[0].id });

  const now = usedPercent(root);
  if (now >= 99.5) {
    ctx.diagnostic(`host disk ${now.toFixed(2)} % used: no threshold above it to resolve the alert; that half is skipped`);
    return;
  }
  await putSpec(99.9);
  await waitFor(
    "disk Healthy reported by the agent",
    async () => (await devices.getDevice({ name }, auth())).status?.resources?.disk === "Healthy",
    WAIT_MS,
  );
  await am.webhook.waitFor(has("DeviceDiskCritical", name, "resolved"), WAIT_MS);
  const normal = await t.db.pool.query(`select 1 from events where involved_name = $1 and reason = 'DeviceDiskNormal'`, [name]);
  assert.equal(normal.rowCount, 1, "one DeviceDiskNormal event");
  // Long enough for any further notification (group_interval 1 s, exporter poll 200 ms): none comes.
  await new Promise((r) => setTimeout(r, 4000));
  assert.deepEqual(seen(am.webhook.notifications, "DeviceDiskCritical", name), ["firing", "resolved"]);
  assert.deepEqual(await am.alerts([`resource="${name}"`]), []);
});
