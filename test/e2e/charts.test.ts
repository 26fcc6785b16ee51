// The web UI's metric charts in Debian Chromium, read from a real Prometheus (scraping a small /metrics endpoint that
// serves what the telemetry gateway and the service export): the device page draws CPU, memory and disk lines, the
// fleet page its device counts by status, and a service without Prometheus shows a note instead of an error.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { fromJson } from "@bufbuild/protobuf";
import { DeviceSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { FleetSchema } from "../../gen/flightctl/v1beta1/fleet_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { DEFAULT_ORG_ID } from "../../server/platform/identity.js";
import { userClient } from "../helpers/agents.js";
import { startTestApi, type TestApi } from "../helpers/api.js";
import { assertNoOpenHandles } from "../helpers/leaks.js";
import { type PrometheusServer, startPrometheus } from "../helpers/prometheus-server.js";
import { adminPage, buildWeb, launchBrowser, screenshot, waitForText } from "./browser.js";

const OTHER_ORG = "7c1e6a52-0000-4000-8000-00000000beef";
let target: Server;
let prom: PrometheusServer;
let t: TestApi;
let bare: TestApi;
let browser: Awaited<ReturnType<typeof launchBrowser>>;

function exposition(): string {
  const d = (org: string) => `org_id="${org}",device_id="chart-dev"`;
  return `${[
    `system_cpu_utilization_ratio{${d(DEFAULT_ORG_ID)},cpu="0",cpu_mode="idle"} 0.6`,
    `system_memory_utilization_ratio{${d(DEFAULT_ORG_ID)},system_memory_state="used"} 0.45`,
    `system_filesystem_utilization_ratio{${d(DEFAULT_ORG_ID)},mountpoint="/"} 0.7`,
    `system_cpu_utilization_ratio{${d(OTHER_ORG)},cpu="0",cpu_mode="idle"} 0.01`,
    `flightctl_devices_summary{organization_id="${DEFAULT_ORG_ID}",fleet="Fleet/charts",status="Online"} 4`,
    `flightctl_devices_summary{organization_id="${DEFAULT_ORG_ID}",fleet="Fleet/charts",status="Offline"} 2`,
  ].join("\n")}\n`;
}

/** A page logged in with a token of the test issuer (the session the login flow would have stored). */
const pageFor = (api: TestApi) => adminPage(browser.context, api);

async function create(api: TestApi) {
  const token = await api.issuer.token("root", { roles: ["flightctl-admin"] });
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const device = fromJson(DeviceSchema, { apiVersion: "v1beta1", kind: "Device", metadata: { name: "chart-dev" }, spec: {} });
  await userClient(api, DeviceService).createDevice({ device }, auth);
  const fleet = fromJson(FleetSchema, {
    apiVersion: "v1beta1",
    kind: "Fleet",
    metadata: { name: "charts" },
    spec: { selector: { matchLabels: { fleet: "charts" } }, template: { spec: {} } },
  });
  await userClient(api, FleetService).createFleet({ fleet }, auth);
}

before(async () => {
  buildWeb();
  target = createServer((_req, res) => res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(exposition()));
  await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
  // Scrapes 5 s apart, each allowed 5 s: a failed scrape (a 500 ms one did fail, with this process busy starting the
  // APIs and Chromium under CI's load) marks the target's series stale, and the page then finds no data at "now".
  prom = await startPrometheus({ targets: [`127.0.0.1:${(target.address() as AddressInfo).port}`], scrapeIntervalMs: 5000 });
  // Until the first scrape is in; a lone point still draws (a short stub ending at it).
  await prom.waitFor("flightctl_devices_summary");
  t = await startTestApi({ prometheusUrl: prom.url });
  bare = await startTestApi();
  await create(t);
  await create(bare);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await t?.close();
  await bare?.close();
  await prom?.close();
  await new Promise((r) => target?.close(r));
  await assertNoOpenHandles();
});

test("the device page charts CPU, memory and disk over the last hour", async () => {
  await prom.waitFor('system_cpu_utilization_ratio{device_id="chart-dev"}'); // fresh now, as for the fleet page below
  const page = await pageFor(t);
  await page.goto(`https://localhost:${t.api.port}/devices/chart-dev`);
  const charts = page.locator("#device-charts figure");
  await charts.first().waitFor();
  assert.equal(await charts.count(), 3);
  for (let i = 0; i < 3; i++) {
    const d = (await charts.nth(i).locator("svg path").getAttribute("d")) ?? "";
    assert.match(d, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/, `chart ${i} draws a line`);
    // The data is seconds old: the line ends at the right edge of the hour (x up to 300).
    const lastX = Number(d.split(/[ML]/).at(-1)?.split(",")[0]);
    assert.ok(lastX > 290, `chart ${i} ends now (x ${lastX})`);
  }
  const captions = await charts.locator("figcaption").allInnerTexts();
  // Last values: 1 − idle 0.6, used 0.45, fullest filesystem 0.7 (not the other organization's 99% CPU).
  assert.deepEqual(
    captions.map((c) => c.replace(/\s+/g, " ").trim()),
    ["CPU 40%", "Memory 45%", "Disk (fullest filesystem) 70%"],
  );
  assert.ok((await screenshot(page, "device-charts")) > 4);
  await page.close();
});

test("the fleet page charts its device counts by status", async () => {
  // The page reads once a minute: the series must be fresh now (a scrape that failed under load since the last check
  // marks it stale, and the page would show "no device counts" until after this test's wait).
  await prom.waitFor('flightctl_devices_summary{fleet="Fleet/charts"}');
  const page = await pageFor(t);
  await page.goto(`https://localhost:${t.api.port}/fleets/charts`);
  const chart = page.locator("#fleet-chart figure");
  await chart.waitFor();
  assert.equal(await chart.locator("svg path").count(), 2);
  assert.deepEqual(await chart.locator(".chart-key").allTextContents(), ["Offline 2", "Online 4"]);
  await page.close();
});

test("without Prometheus the device and fleet pages say metrics are not configured, no error", async () => {
  const page = await pageFor(bare);
  for (const path of ["/devices/chart-dev", "/fleets/charts"]) {
    await page.goto(`https://localhost:${bare.api.port}${path}`);
    await waitForText(page, "Metrics are not configured");
    assert.equal(await page.locator("figure.chart").count(), 0);
    assert.equal(await page.locator('[role="alert"]').count(), 0);
  }
  await page.close();
});
