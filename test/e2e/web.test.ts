// The web UI end to end in Debian Chromium: log in through the built-in PAM issuer (authorization code + PKCE),
// approve a real (simulated) agent's enrollment request, create a fleet from YAML (a syntax error first, shown on its
// line), watch the device become UpToDate without reloading, edit its labels by form, create a fleet and a repository
// by form (a refused field marked where it is), run a command in the device's console (xterm.js over the browser
// console RPCs, a real shell on the agent), and screenshot every page.
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
import { EnrollmentRequestService } from "../../gen/flightctl/v1beta1/enrollmentrequest_service_pb.js";
import { ConsoleService } from "../../gen/flightctl/v1beta1/console_service_pb.js";
import { FleetService } from "../../gen/flightctl/v1beta1/fleet_service_pb.js";
import { RepositoryService } from "../../gen/flightctl/v1beta1/repository_service_pb.js";
import { startSimulator } from "../../agent/simulator.js";
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
const dirs: string[] = [];
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
  await page.getByRole("cell", { name }).waitFor();
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

test("logging out returns to the login page and the API refuses the old page's calls", async () => {
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in with Local users" }).waitFor();
  await shot("login");
});
