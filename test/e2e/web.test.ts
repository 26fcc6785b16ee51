// The web UI end to end in Debian Chromium: log in through the built-in PAM issuer (authorization code + PKCE),
// approve a real (simulated) agent's enrollment request, create a fleet from YAML (a syntax error first, shown on its
// line), watch the device become UpToDate without reloading, edit its labels by form, create a fleet and a repository
// by form (a refused field marked where it is), run a command in the device's console (xterm.js over the browser
// console RPCs, a real shell on the agent), the lifecycle actions behind their confirmations (deny, delete, resume,
// decommission) and their absence for a viewer, the events tables' layout and paging, and screenshot every page.
import { assertNoOpenHandles } from "../helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import pino from "pino";
import type { Page } from "playwright-core";
import { startTestApi, type TestApi } from "../helpers/api.js";
import { agentConfigYaml, userClient, waitFor } from "../helpers/agents.js";
import { startPamIssuer } from "../../server/pam-issuer/issuer.js";
import { bootstrapAuthenticator } from "../../server/pam-issuer/bootstrap.js";
import { oidcProvider } from "../../server/auth/oidc-provider.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { DeviceSchema, DeviceStatusSchema } from "../../gen/flightctl/v1beta1/device_pb.js";
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { ConsoleService } from "../../gen/flightctl/v1beta1/console_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { RepositoryService } from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import { EventService } from "../../gen/flightctl/v1beta1/event_service_pb.js";
import { startSimulator } from "../../agent/simulator.js";
import { createCsr, deviceNameFromPublicKey, generateDeviceKey } from "../../lib/csr.js";
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { parseAgentConfig } from "../../agent/config.js";
import { buildWeb, launchBrowser, screenshot } from "./browser.js";

const PASSWORD = "e2e-admin-password";
let t: TestApi;
let issuer: Awaited<ReturnType<typeof startPamIssuer>>;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let sim: Awaited<ReturnType<typeof startSimulator>> | undefined;
let page: Page;
let base: string;
let admin: string;
/** The simulated device's name (approved in the enrollment test). */
let simDevice: string;
const dirs: string[] = [];
const auth = () => ({ headers: { authorization: `Bearer ${admin}` } });
const isCode = (c: Code) => (e: unknown) => ConnectError.from(e).code === c;

/** A pending enrollment request as an agent would send it (a fresh key, its fingerprint name, a CSR). */
async function enrollmentRequest(): Promise<string> {
  const keys = await generateDeviceKey();
  const name = await deviceNameFromPublicKey(keys.publicKey);
  const csr = await createCsr(keys, name);
  await userClient(t, EnrollmentRequestService).createEnrollmentRequest(
    { enrollmentRequest: { apiVersion: "flightctl.io/v1beta1", kind: "EnrollmentRequest", metadata: { name }, spec: { csr } } },
    auth(),
  );
  return name;
}
const tmp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** At least a few colours: the page rendered something. */
async function shot(name: string) {
  const colours = await screenshot(page, name);
  assert.ok(colours > 4, `screenshot ${name} looks blank (${colours} colours)`);
}

before(async () => {
  buildWeb();
  const [apiPort, issuerPort] = [await freePort(), await freePort()];
  base = `https://localhost:${apiPort}`;
  const issuerUrl = `http://127.0.0.1:${issuerPort}/api/v1/auth`;
  issuer = await startPamIssuer({
    issuerUrl,
    dataDir: tmp("fc-e2e-issuer-"),
    clientId: "flightctl-client",
    redirectUris: [`${base}/callback`],
    authenticator: bootstrapAuthenticator({ username: "admin", password: PASSWORD }),
    host: "127.0.0.1",
    port: issuerPort,
    log: pino({ level: "silent" }),
  });
  t = await startTestApi({
    worker: true,
    port: apiPort,
    authProviders: [oidcProvider("pam", issuerUrl, "flightctl-client", "Local users")],
  });
  admin = await t.issuer.token("root", { roles: ["flightctl-admin"] });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(20_000);
  // The browser's own errors, for a failing run (E2E_DEBUG=1).
  if (process.env.E2E_DEBUG) {
    page.on("console", (m) => process.stderr.write(`[browser ${m.type()}] ${m.text()}\n`));
    page.on("pageerror", (e) => process.stderr.write(`[browser error] ${e.message}\n`));
  }
});

after(async () => {
  // An agent still waiting for approval (a failed test) would keep stop() waiting: approve it first.
  if (sim) {
    const ers = userClient(t, EnrollmentRequestService);
    const auth = { headers: { authorization: `Bearer ${admin}` } };
    for (const er of (await ers.listEnrollmentRequests({}, auth)).items) {
      await ers.approveEnrollmentRequest({ name: er.metadata!.name!, approval: { approved: true } }, auth).catch(() => {});
    }
  }
  await sim?.stop();
  await browser?.close();
  await t?.close();
  await issuer?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await assertNoOpenHandles();
});

test("logs in through the provider's login page (authorization code + PKCE) and lands on the overview", async () => {
  await page.goto(`${base}/devices?labels=x`);
  await page.getByRole("button", { name: "Log in with Local users" }).waitFor();
  // index.html's boot line is gone once the app renders.
  assert.equal(await page.getByText("Loading Flight Control").count(), 0);
  await page.getByRole("button", { name: "Log in with Local users" }).click();
  await page.waitForURL(/\/api\/v1\/auth\/authorize/);
  await page.getByLabel("User name").or(page.locator("#username")).first().fill("admin");
  await page.locator("#password").fill(PASSWORD);
  await page.locator("#password").press("Enter");
  // Back where the login started, with the session.
  await page.waitForURL(`${base}/devices?labels=x`);
  await page.getByRole("heading", { name: "Devices", level: 1 }).waitFor();
  assert.equal((await page.locator("#org-switcher").inputValue()) !== "", true);
  await page.goto(`${base}/`);
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  await page.getByRole("heading", { name: /^Devices \(/ }).waitFor();
  await shot("overview");
});

test("approves a real agent's enrollment request with labels", async () => {
  // No approver: the request waits for a person. Consoles on: the console test runs a real shell on this host.
  sim = await startSimulator({
    count: 1,
    console: true,
    config: parseAgentConfig(await agentConfigYaml(t, admin, "/unused", "/unused")),
    baseDir: tmp("fc-e2e-agent-"),
    log: pino({ level: "silent" }),
  });
  await page.getByRole("link", { name: "Enrollment requests", exact: true }).click();
  const item = page.locator(".er-list li").first();
  await item.waitFor({ timeout: 30_000 });
  const name = (await item.getAttribute("data-name"))!;
  await shot("enrollment-requests");
  await item.getByLabel(/Labels for the device/).fill("fleet=web, site=e2e");
  await item.getByRole("button", { name: "Approve" }).click();
  // Nothing happens before the confirmation, which names the labels.
  const dialog = page.getByRole("dialog", { name: `Approve enrollment request ${name}?` });
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /fleet=web, site=e2e/);
  await shot("approve-confirm");
  await dialog.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("cell", { name, exact: true }).waitFor();
  simDevice = name;
  await sim.started();
  const dev = await userClient(t, DeviceService).getDevice({ name }, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(dev.metadata?.labels.fleet, "web");
  assert.equal(dev.metadata?.labels.site, "e2e");
});

test("creates a fleet from YAML: a syntax error is marked on its line, then the device becomes UpToDate live", async () => {
  // A second tab keeps the devices page open from before the fleet exists; a marker on its window proves it is never
  // reloaded while the row changes.
  const watcher = await browser.context.newPage();
  await watcher.goto(`${base}/devices`);
  const row = watcher.locator("#devices-table tbody tr").first();
  await row.waitFor();
  // Not in a fleet yet: the fleet column is empty.
  assert.equal((await row.locator("td").nth(4).innerText()).trim(), "–");
  await watcher.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
  await page.goto(`${base}/fleets`);
  // The form covers the common case; "Edit as YAML" hands what it holds to the editor.
  await page.getByRole("link", { name: "Create fleet" }).click();
  await page.getByLabel("Name").fill("web");
  await page.getByRole("button", { name: "Edit as YAML" }).click();
  const editor = page.getByLabel("Fleet as YAML");
  await waitFor("the form's draft in the editor", async () => /name: web/.test(await editor.inputValue()) || undefined);
  await editor.fill("apiVersion: flightctl.io/v1beta1\nkind: Fleet\nmetadata:\n  name: web\n   bad: [\n");
  await page.locator("#yaml-problems li").first().waitFor();
  assert.match(await page.locator("#yaml-problems").innerText(), /Line \d+/);
  assert.equal(await page.getByRole("button", { name: "Create" }).isDisabled(), true);
  await shot("fleet-yaml-error");
  // A field the server refuses is reported against its line.
  await editor.fill(
    [
      "apiVersion: flightctl.io/v1beta1",
      "kind: Fleet",
      "metadata:",
      "  name: web",
      "spec:",
      "  selector:",
      "    matchLabels:",
      "      fleet: web",
      "  template:",
      "    metadata:",
      "      labels:",
      "        fleet: web",
      "    spec:",
      "      config:",
      "        - name: motd",
      "          inline:",
      "            - path: /etc/motd",
      "              content: hello from the web UI",
      "",
    ].join("\n"),
  );
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(`${base}/fleets/web`);
  await page.getByRole("heading", { name: "Fleet web" }).waitFor();
  await shot("fleet-detail");
  // The open devices page: the row turns UpToDate without a reload (a watch, or polling where there is none).
  await row.locator("td", { hasText: /^web$/ }).waitFor({ timeout: 60_000 });
  await row.locator("td.updated", { hasText: "UpToDate" }).waitFor({ timeout: 60_000 });
  assert.equal(await watcher.evaluate(() => (window as unknown as { marker?: number }).marker), 42);
  await watcher.close();
  await page.getByRole("link", { name: "Devices", exact: true }).click();
  await page.locator("#devices-table tbody tr td.updated", { hasText: "UpToDate" }).waitFor();
  await shot("devices");
});

test("edits a device's labels by form and shows its detail", async () => {
  await page.locator("#devices-table tbody tr td.name a").first().click();
  await page.getByRole("heading", { name: /^Device / }).waitFor();
  await page.getByRole("button", { name: "Edit labels" }).click();
  await page.getByLabel(/Labels \(key=value/).fill("fleet=web, site=e2e, tier=gold");
  await page.getByRole("button", { name: "Save labels" }).click();
  await page.getByText("tier=gold").waitFor();
  const name = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
  const dev = await userClient(t, DeviceService).getDevice({ name }, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(dev.metadata?.labels.tier, "gold");
  await page.getByRole("heading", { name: "Conditions" }).waitFor();
  await shot("device-detail");
});

test("the device page's events table fits its card: no object column, time on one line, messages wrapped, ordered", async () => {
  // On the device page of the previous test, at the 1280 px desktop viewport.
  const card = page.locator('section[aria-labelledby="s-events"]');
  await card.locator("table.events tbody tr[data-name]").first().waitFor();
  // No named functions in the page's code: the test runner's transpiler would wrap them in a helper the page lacks.
  const m = await card.evaluate((el) => {
    const table = el.querySelector("table.events") as HTMLElement;
    const times = Array.from(table.querySelectorAll("td.time time"));
    return {
      cardWidth: el.clientWidth,
      tableWidth: table.scrollWidth,
      heads: Array.from(table.querySelectorAll("thead th"), (th) => th.textContent),
      // The lines each time takes: the distinct tops of its text's line boxes.
      timeLines: times.map((t) => {
        const r = document.createRange();
        r.selectNodeContents(t);
        return new Set(Array.from(r.getClientRects(), (b) => Math.round(b.top))).size;
      }),
      cutMessages: Array.from(table.querySelectorAll("td.message")).filter((td) => td.scrollWidth > td.clientWidth).length,
      badges: Array.from(table.querySelectorAll(".badge"), (b) => b.textContent),
      times: times.map((t) => t.getAttribute("datetime") ?? ""),
      names: Array.from(table.querySelectorAll("tbody tr[data-name]"), (tr) => (tr as HTMLElement).dataset.name ?? ""),
    };
  });
  assert.ok(m.tableWidth <= m.cardWidth, `events table ${m.tableWidth}px wide in a ${m.cardWidth}px card`);
  assert.deepEqual(m.heads, ["Time", "Type", "Reason", "Message"]);
  assert.ok(
    m.timeLines.every((n) => n === 1),
    `times take ${m.timeLines.join(",")} lines`,
  );
  assert.equal(m.cutMessages, 0);
  assert.ok(
    m.badges.every((b) => b === "Normal" || b === "Warning"),
    `type badges: ${m.badges.join(",")}`,
  );
  // Newest first; the same order after a reload (events of the same time keep the API's order).
  assert.deepEqual(
    m.times,
    [...m.times].sort((a, b) => b.localeCompare(a)),
  );
  await page.reload();
  await card.locator("table.events tbody tr[data-name]").first().waitFor();
  const again = await card
    .locator("table.events tbody tr[data-name]")
    .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name));
  const common = (xs: (string | undefined)[], ys: (string | undefined)[]) => xs.filter((x) => ys.includes(x));
  assert.deepEqual(common(again, m.names), common(m.names, again));
  await shot("device-events");
});

test("LAST SEEN: the devices list and the device page show how long ago the device was seen, the time as a title", async () => {
  const dev = await userClient(t, DeviceService).getDevice({ name: simDevice }, auth());
  assert.ok(dev.status?.lastSeen, "the API returns status.lastSeen of a device that reported");
  const onPage = page.locator("#device-last-seen time");
  await onPage.waitFor();
  assert.match(await onPage.innerText(), /^\d+ (s|min) ago$/);
  assert.ok(await onPage.getAttribute("title"));
  // A change arrives by the watch, whose devices carry no lastSeen: the page keeps the one it had.
  const devices = userClient(t, DeviceService);
  const label = (value: string) =>
    devices.patchDevice(
      { name: simDevice, patch: [{ op: "add", path: "/metadata/labels/seen", value: fromJson(ValueSchema, value) }] },
      auth(),
    );
  await label("page");
  await page.getByText("seen=page").waitFor();
  assert.match(await onPage.innerText(), /^\d+ (s|min) ago$/);
  await page.goto(`${base}/devices`);
  const row = page.locator(`#devices-table tr[data-name="${simDevice}"]`);
  const cell = row.locator("td.last-seen time");
  await cell.waitFor();
  assert.match(await cell.innerText(), /^\d+ (s|min) ago$/);
  assert.ok(await cell.getAttribute("title"));
  await label("list");
  await row.getByText("seen=list").waitFor();
  assert.match(await cell.innerText(), /^\d+ (s|min) ago$/);
  await page.goto(`${base}/devices/${simDevice}`);
  await page.getByRole("heading", { name: "Conditions" }).waitFor();
});

test("opens the device's console, runs a command in the terminal and sees its output", async () => {
  // From the device detail page of the previous test.
  const name = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
  await page.getByRole("link", { name: "Console", exact: true }).click();
  await page.waitForURL(`${base}/console/${encodeURIComponent(name)}`);
  await page.locator("#console-state", { hasText: "Connected" }).waitFor();
  // Keystrokes go to xterm.js (its hidden textarea has the focus once the terminal is clicked).
  await page.locator(".terminal .xterm").click();
  await page.keyboard.type("echo hello-$((6*7))");
  await page.keyboard.press("Enter");
  // The typed line echoes "hello-$((6*7))"; only the shell's answer reads hello-42.
  const rows = page.locator(".terminal .xterm-rows");
  await rows.filter({ hasText: "hello-42" }).waitFor({ timeout: 30_000 });
  assert.match(await rows.innerText(), /echo\s+hello-\$\(\(6\*7\)\)/);
  await shot("console");
  // Leaving the page ends the session (a close frame): the API records it as ended.
  await page.getByRole("link", { name: "Back to device" }).click();
  await page.getByRole("heading", { name: /^Device / }).waitFor();
  const consoles = userClient(t, ConsoleService);
  await waitFor("the console session to end", async () => {
    const { sessions } = await consoles.listConsoleSessions({ name }, { headers: { authorization: `Bearer ${admin}` } });
    return sessions.length > 0 && sessions.every((s) => !!s.endedAt);
  });
});

test("creates a fleet and a repository by form; a field the server refuses is marked at that field", async () => {
  const auth = { headers: { authorization: `Bearer ${admin}` } };
  await page.getByRole("link", { name: "Fleets", exact: true }).click();
  await page.getByRole("link", { name: "Create fleet" }).click();
  await page.getByLabel("Name").fill("Not A Name");
  await page.getByLabel("Devices with labels").fill("site=lab, tier=gold");
  await page.getByLabel("OS image (optional)").fill("quay.io/example/os:1.2");
  await page.getByLabel("Config file path (optional)").fill("/etc/site");
  await page.getByLabel("Config file content").fill("site {{ .metadata.labels.site }}\n");
  await page.getByLabel("Roll out in batches (optional)").fill("10%, 2");
  await page.getByRole("button", { name: "Create" }).click();
  // The API refuses the name: the message sits under the Name field, which is marked invalid; nothing was created.
  const nameError = page.locator("#f-name-error");
  await nameError.waitFor();
  assert.match(await nameError.innerText(), /\S/);
  assert.equal(await page.getByLabel("Name").getAttribute("aria-invalid"), "true");
  await shot("fleet-form-error");
  await page.getByLabel("Name").fill("by-form");
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(`${base}/fleets/by-form`);
  const fleet = await userClient(t, FleetService).getFleet({ name: "by-form" }, auth);
  assert.deepEqual({ ...fleet.spec?.selector?.matchLabels }, { site: "lab", tier: "gold" });
  assert.equal(fleet.spec?.template?.spec?.os?.image, "quay.io/example/os:1.2");
  assert.deepEqual(
    fleet.spec?.template?.spec?.config[0]?.inline.map((f) => [f.path, f.content]),
    [["/etc/site", "site {{ .metadata.labels.site }}\n"]],
  );
  // "10%" stays a percentage, "2" becomes a count.
  const limits = fleet.spec?.rolloutPolicy?.deviceSelection?.sequence.map((b) => b.limit?.kind);
  assert.deepEqual(
    limits?.map((k) => k?.value),
    ["10%", 2],
  );

  await page.getByRole("link", { name: "Repositories", exact: true }).click();
  await page.getByRole("link", { name: "Create repository" }).click();
  await page.getByLabel("Name").fill("site-configs");
  await page.getByLabel("Type").selectOption("http");
  await page.getByLabel("URL").fill("https://configs.example.com/site");
  await page.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(`${base}/repositories`);
  await page.getByText("site-configs").first().waitFor();
  const repo = await userClient(t, RepositoryService).getRepository({ name: "site-configs" }, auth);
  assert.equal(repo.spec?.type, "http");
  await shot("repository-form");
});

test("every other page renders: events, repositories, resource syncs, YAML edit", async () => {
  for (const [link, heading, file] of [
    ["Events", "Events", "events"],
    ["Repositories", "Repositories", "repositories"],
    ["Resource syncs", "Resource syncs", "resourcesyncs"],
    ["Fleets", "Fleets", "fleets"],
  ] as const) {
    await page.getByRole("link", { name: link, exact: true }).click();
    await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
    await shot(file);
  }
  await page.goto(`${base}/edit/Fleet/web`);
  await page.getByLabel("Fleet as YAML").waitFor();
  await waitFor("the fleet's YAML", async () => (await page.getByLabel("Fleet as YAML").inputValue()).includes("fleet: web"));
  await shot("fleet-edit");
});

test("denies an enrollment request and deletes the decided one, each only after a confirmation", async () => {
  const ers = userClient(t, EnrollmentRequestService);
  const name = await enrollmentRequest();
  const denied = async () =>
    (await ers.getEnrollmentRequest({ name }, auth())).status?.conditions.some((c) => c.type === "Denied" && c.status === "True");
  await page.getByRole("link", { name: "Enrollment requests", exact: true }).click();
  const item = page.locator(`.er-list li[data-name="${name}"]`);
  await item.getByRole("button", { name: "Deny" }).click();
  const dialog = page.getByRole("dialog", { name: `Deny enrollment request ${name}?` });
  await dialog.waitFor();
  // Cancelled: nothing happened.
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await denied(), false);
  await item.getByRole("button", { name: "Deny" }).click();
  await shot("deny-confirm");
  await dialog.getByRole("button", { name: "Deny" }).click();
  const row = page.locator("tr", { has: page.getByRole("cell", { name, exact: true }) });
  await row.getByText("Denied").waitFor();
  assert.equal(await denied(), true);
  await row.getByRole("button", { name: `Delete EnrollmentRequest ${name}` }).click();
  const del = page.getByRole("dialog", { name: `Delete EnrollmentRequest ${name}?` });
  await del.getByRole("button", { name: "Delete" }).click();
  await row.waitFor({ state: "detached" });
  await assert.rejects(ers.getEnrollmentRequest({ name }, auth()), isCode(Code.NotFound));
});

// A device that never had an agent, paused on a conflict (set in the database, as a restore would).
const LIFECYCLE = "lifecycle-e2e";
const actions = () => page.locator(".page-head > .actions");
/** A page action's button (not the same-named button of its confirmation dialog). */
const action = (name: string) => page.getByRole("button", { name, exact: true }).and(page.locator(".page-head > .actions > button"));

test("a paused device: the console says why it cannot connect; Resume (confirmed) takes it out of the pause", async () => {
  const devices = userClient(t, DeviceService);
  await devices.createDevice(
    { device: { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: LIFECYCLE }, spec: {} } },
    auth(),
  );
  const pool = new pg.Pool({ connectionString: t.db.url });
  try {
    await pool.query(
      `update devices set annotations = annotations || '{"device-controller/conflictPaused": "true"}', resource_version = nextval('resource_version_seq') where name = $1`,
      [LIFECYCLE],
    );
  } finally {
    await pool.end();
  }
  const paused = async () =>
    (await devices.getDevice({ name: LIFECYCLE }, auth())).metadata?.annotations["device-controller/conflictPaused"];
  await page.goto(`${base}/console/${LIFECYCLE}`);
  await page.locator("#console-state", { hasText: "Cannot connect to the device" }).waitFor();
  // The service's own reason, as the CLI shows it.
  assert.match(await page.locator("main .error").innerText(), /conflict-paused: resume it/);
  assert.equal(await page.locator('div.terminal[role="application"]').isHidden(), true);
  await shot("console-refused");

  await page.goto(`${base}/devices/${LIFECYCLE}`);
  await action("Resume").click();
  const dialog = page.getByRole("dialog", { name: `Resume device ${LIFECYCLE}?` });
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await dialog.waitFor({ state: "hidden" });
  assert.equal(await paused(), "true");
  await action("Resume").click();
  await dialog.getByRole("button", { name: "Resume" }).click();
  await action("Resume").waitFor({ state: "detached" });
  assert.equal(await paused(), undefined);
});

test("the devices page lists paused devices and resumes them by selector (confirmed), saying how many", async () => {
  const devices = userClient(t, DeviceService);
  const pool = new pg.Pool({ connectionString: t.db.url });
  const pause = (status: string) =>
    pool.query(
      `update devices set annotations = annotations || '{"device-controller/conflictPaused": "true"}',
         status = jsonb_set(coalesce(status, '{}'), '{summary}', jsonb_build_object('status', $2::text)),
         resource_version = nextval('resource_version_seq') where name = $1 returning status`,
      [LIFECYCLE, status],
    );
  const before = (await pool.query("select status from devices where name = $1", [LIFECYCLE])).rows[0].status;
  try {
    // Paused as a report after a restore leaves it: the annotation and the ConflictPaused summary.
    await pause("ConflictPaused");
    await page.goto(`${base}/devices`);
    await page.getByRole("button", { name: "Paused devices" }).click();
    await page.locator("#devices-table tbody tr", { hasText: LIFECYCLE }).waitFor();
    // The unfiltered table can still be showing (the device is in it too) until the filtered list arrives.
    await page
      .waitForFunction(() => document.querySelectorAll("#devices-table tbody tr").length === 1, undefined, { timeout: 10_000 })
      .catch(() => {});
    assert.equal(await page.locator("#devices-table tbody tr").count(), 1);
    await page.getByRole("button", { name: "Resume paused…" }).click();
    const dialog = page.getByRole("dialog", { name: "Resume paused devices?" });
    assert.match(await dialog.innerText(), /status\.summary\.status=ConflictPaused/);
    await dialog.getByRole("button", { name: "Resume" }).click();
    await page.getByText("1 device(s) resumed").waitFor();
    assert.equal(
      (await devices.getDevice({ name: LIFECYCLE }, auth())).metadata?.annotations["device-controller/conflictPaused"],
      undefined,
    );
  } finally {
    await pool.query("update devices set status = $2, resource_version = nextval('resource_version_seq') where name = $1", [
      LIFECYCLE,
      before,
    ]);
    await pool.end();
  }
});

test("a device that never connected: the console says so and never says Connected", async () => {
  await page.goto(`${base}/console/${LIFECYCLE}`);
  const state = page.locator("#console-state");
  await state.filter({ hasNotText: "Connecting…" }).waitFor();
  assert.equal(await state.innerText(), "Cannot connect to the device");
  assert.match(await page.locator("main .error").innerText(), /never|last seen/i);
  await page.goto(`${base}/devices/${LIFECYCLE}`);
});

test("Decommission (confirmed, with its target) then Delete (confirmed) a device", async () => {
  const devices = userClient(t, DeviceService);
  await page.getByRole("heading", { name: `Device ${LIFECYCLE}` }).waitFor();
  await action("Decommission").click();
  const dialog = page.getByRole("dialog", { name: `Decommission device ${LIFECYCLE}?` });
  await dialog.getByLabel("What the device does").selectOption("FactoryReset");
  await shot("decommission-confirm");
  await dialog.getByRole("button", { name: "Decommission" }).click();
  await page.locator("#device-lifecycle", { hasText: "Decommissioning" }).waitFor();
  await action("Decommission").waitFor({ state: "detached" });
  // The API refuses changes from now on: no edit actions.
  assert.equal(await page.getByRole("link", { name: "Edit YAML" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Edit labels" }).count(), 0);
  assert.equal((await devices.getDevice({ name: LIFECYCLE }, auth())).spec?.decommissioning?.target, "FactoryReset");

  await action(`Delete Device ${LIFECYCLE}`).click();
  const del = page.getByRole("dialog", { name: `Delete Device ${LIFECYCLE}?` });
  await shot("delete-confirm");
  await del.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(`${base}/devices`);
  await assert.rejects(devices.getDevice({ name: LIFECYCLE }, auth()), isCode(Code.NotFound));
});

test("deletes a repository (confirmed) from its list", async () => {
  await page.getByRole("link", { name: "Repositories", exact: true }).click();
  const row = page.locator("tr", { has: page.getByRole("cell", { name: "site-configs", exact: true }) });
  await row.getByRole("button", { name: "Delete Repository site-configs" }).click();
  await page.getByRole("dialog", { name: "Delete Repository site-configs?" }).getByRole("button", { name: "Delete" }).click();
  await row.waitFor({ state: "detached" });
  await assert.rejects(userClient(t, RepositoryService).getRepository({ name: "site-configs" }, auth()), isCode(Code.NotFound));
});

test("the Events page reaches every event through its pages (the API's continue tokens) and fits the screen", async () => {
  const all = (await userClient(t, EventService).listEvents({ options: { limit: 1000 } }, auth())).items.map((e) => e.metadata?.name ?? "");
  const PER_PAGE = 20;
  assert.ok(all.length > PER_PAGE, `only ${all.length} events: too few for two pages`);
  await page.getByRole("link", { name: "Events", exact: true }).click();
  await page.getByLabel("Per page").selectOption(String(PER_PAGE));
  const seen = new Set<string>();
  const next = page.getByRole("navigation", { name: "Event pages" }).getByRole("button", { name: "Next" });
  let seenPages = 0;
  for (let p = 0; ; p++) {
    seenPages = p + 1;
    await page.locator("#events-count", { hasText: `showing ${p * PER_PAGE + 1}–` }).waitFor();
    for (const n of await page
      .locator("table.events tbody tr[data-name]")
      .evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.name)))
      seen.add(n ?? "");
    if (p === 0) {
      const w = await page.locator(".table-wrap").evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
      assert.ok(w.scroll <= w.client, `events table ${w.scroll}px wide in ${w.client}px`);
    }
    if (await next.isDisabled()) break;
    await next.click();
  }
  const missing = all.filter((n) => !seen.has(n));
  assert.deepEqual(missing, [], `${missing.length} of ${all.length} events unreachable`);
  await page.getByRole("navigation", { name: "Event pages" }).getByRole("button", { name: "Previous" }).click();
  await page.locator("#events-count", { hasText: `showing ${(seenPages - 2) * PER_PAGE + 1}–` }).waitFor();
  await shot("events-paged");
  // A device page's "All events" link: the Events page filtered to that device.
  await page.goto(`${base}/devices/${simDevice}`);
  await page.getByRole("link", { name: "All events of this device" }).click();
  await page.locator("table.events tbody tr[data-name]").first().waitFor();
  const objects = await page.locator("table.events td.object").allTextContents();
  assert.ok(objects.length > 0 && objects.every((o) => o === `Device/${simDevice}`), objects.join(", "));
});

test("logging out returns to the login page and the API refuses the old page's calls", async () => {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in with Local users" }).waitFor();
  await shot("login");
});

/** The browser's session becomes `token`'s (a token from the test issuer, stored as a login would store it). */
// A device with an application (its status set as an agent would report it): Stop, Start and Restart on its row.
const APPS = "apps-e2e";
test("application actions on the device page: Stop (confirmed) then Start and Restart reach the rendered device", async () => {
  const devices = userClient(t, DeviceService);
  const spec = { applications: [{ name: "web", appType: "compose", inline: [{ path: "docker-compose.yaml", content: "services: {}" }] }] };
  await devices.createDevice(
    { device: fromJson(DeviceSchema, { apiVersion: "flightctl.io/v1beta1", kind: "Device", metadata: { name: APPS }, spec }) },
    auth(),
  );
  const report = async (status: string) => {
    const d = await devices.getDevice({ name: APPS }, auth());
    d.status = fromJson(DeviceStatusSchema, { applications: [{ name: "web", appType: "compose", status, ready: "1/1", restarts: 0 }] });
    await devices.replaceDeviceStatus({ name: APPS, device: d }, auth());
  };
  await report("Running");
  const app = async () => {
    const r = await devices.getRenderedDevice({ name: APPS }, auth()).catch(() => undefined);
    return r?.device?.spec?.applications.find((a) => a.name === "web");
  };
  await waitFor("the first render", app);
  // The previous test logged out: act as the admin again (a token session, as for the viewer below).
  await actAs(admin);
  await page.goto(`${base}/devices/${APPS}`);
  const row = page.locator("tr", { has: page.getByRole("cell", { name: "web", exact: true }) });
  await row.getByRole("button", { name: "Stop web" }).click();
  const stop = page.getByRole("dialog", { name: `Stop application web on ${APPS}?` });
  await shot("app-stop-confirm");
  await stop.getByRole("button", { name: "Stop", exact: true }).click();
  await stop.waitFor({ state: "hidden" });
  await waitFor("desiredState stopped", async () => (await app())?.desiredState === "stopped");
  // The agent reports it stopped: the row offers Start.
  await report("Stopped");
  await page.reload();
  await row.getByRole("button", { name: "Start web" }).click();
  await page
    .getByRole("dialog", { name: `Start application web on ${APPS}?` })
    .getByRole("button", { name: "Start", exact: true })
    .click();
  await waitFor("desiredState running", async () => (await app())?.desiredState === "running");
  await report("Running");
  await page.reload();
  await row.getByRole("button", { name: "Restart web" }).click();
  await page
    .getByRole("dialog", { name: `Restart application web on ${APPS}?` })
    .getByRole("button", { name: "Restart", exact: true })
    .click();
  await waitFor("restartGeneration 1", async () => (await app())?.restartGeneration === 1);
});

const actAs = (token: string) =>
  page.evaluate(
    (accessToken) =>
      localStorage.setItem(
        "flightctl.session",
        JSON.stringify({ accessToken, expiresAt: Date.now() + 3_600_000, provider: "test", clientId: "test" }),
      ),
    token,
  );

test("a viewer sees no lifecycle action (no delete, decommission, resume, approve or deny); an installer only approve and deny", async () => {
  // No login page for other users: their sessions are tokens from the test issuer.
  const viewer = await t.issuer.token("vic", { roles: ["flightctl-viewer"], organizations: ["default"] });
  const pending = await enrollmentRequest();
  await userClient(t, RepositoryService).createRepository(
    {
      repository: {
        apiVersion: "flightctl.io/v1beta1",
        kind: "Repository",
        metadata: { name: "viewer-sees" },
        spec: { type: "http", url: "https://configs.example.com/viewer" },
      },
    },
    auth(),
  );
  await actAs(viewer);
  await page.goto(`${base}/devices/${simDevice}`);
  await page.getByRole("heading", { name: "Conditions" }).waitFor();
  assert.equal(await actions().locator("button, a").count(), 0);
  assert.equal(await page.getByRole("button", { name: "Edit labels" }).count(), 0);
  // Nor application actions (devices/applications/lifecycle update).
  await page.goto(`${base}/devices/${APPS}`);
  await page.getByRole("cell", { name: "web", exact: true }).waitFor();
  assert.equal(
    await page
      .locator("main")
      .getByRole("button", { name: /^(Start|Stop|Restart) web$/ })
      .count(),
    0,
  );
  await page.goto(`${base}/enrollmentrequests`);
  await page.locator(`.er-list li[data-name="${pending}"]`).waitFor();
  assert.equal(await page.locator("main").getByRole("button").count(), 0);
  await page.goto(`${base}/fleets/web`);
  await page.getByRole("heading", { name: "Template", exact: true }).waitFor();
  assert.equal(await page.locator("main").getByRole("button").count(), 0);
  await page.goto(`${base}/repositories`);
  await page.getByRole("cell", { name: "viewer-sees", exact: true }).waitFor();
  assert.equal(await page.locator("main").getByRole("button").count(), 0);
  assert.equal(await page.getByRole("columnheader", { name: "Actions" }).count(), 0);
  await shot("viewer");
  // An installer may approve and deny enrollment requests but not delete them.
  const installer = await t.issuer.token("ian", { roles: ["flightctl-installer"], organizations: ["default"] });
  await actAs(installer);
  await page.goto(`${base}/enrollmentrequests`);
  const item = page.locator(`.er-list li[data-name="${pending}"]`);
  await item.getByRole("button", { name: "Approve" }).waitFor();
  await item.getByRole("button", { name: "Deny" }).waitFor();
  assert.equal(await item.getByRole("button", { name: /^Delete/ }).count(), 0);
});
