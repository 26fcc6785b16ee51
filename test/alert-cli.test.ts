// AlertService.ListAlerts and `flightctl get alerts` against the real API and a real Alertmanager holding two
// organizations' alerts (posted straight to it with the labels of docs/alerts.md): each organization gets only its
// own, the filters narrow them and cannot be used to reach another organization, bad input is named, an installer is
// refused, and no Alertmanager (or one that is down) is a clear FailedPrecondition / Unavailable.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { parse } from "yaml";
import { startTestApi, type TestApi } from "./helpers/api.js";
import { startTestApp } from "./helpers/app.js";
import { userClient } from "./helpers/agents.js";
import { buildCli, runCli } from "./helpers/cli.js";
import { startAlertmanager, type AlertmanagerServer } from "./helpers/alertmanager.js";
import { AlertService } from "../gen/flightctl/v1beta1/alert_service_pb.js";
import { OrganizationService } from "../gen/flightctl/v1beta1/organization_service_pb.js";

let t: TestApi;
let am: AlertmanagerServer;
let dir: string;
let acme: string;
let globex: string;
const tokens: Record<string, string> = {};
const headers = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
const started = new Date(Date.now() - 90_000).toISOString();

function alert(org: string, kind: string, resource: string, alertname: string, more: Record<string, string> = {}) {
  return {
    labels: { alertname, resource, kind, org_id: org, ...more },
    annotations: { summary: `${kind} ${resource}: ${alertname}`, event: `evt-${resource}-${alertname}` },
    startsAt: started,
  };
}

async function postAlerts(alerts: unknown[]) {
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(alerts),
  });
  assert.equal(res.status, 200, await res.text());
}

const list = (token: string, req: Parameters<ReturnType<typeof createClient<typeof AlertService>>["listAlerts"]>[0] = {}) =>
  userClient(t, AlertService).listAlerts(req, headers(token));
const keys = (items: { kind: string; resource: string; alertname: string; labels: Record<string, string> }[]) =>
  items.map((a) => `${a.labels.org_id === acme ? "acme" : "globex"}:${a.kind}/${a.resource}:${a.alertname}`).sort();

before(async () => {
  buildCli();
  am = await startAlertmanager();
  t = await startTestApi({ alertmanagerUrl: am.url });
  for (const [user, role, org] of [
    ["alice", "flightctl-viewer", "acme"],
    ["bob", "flightctl-viewer", "globex"],
    ["ivan", "flightctl-installer", "acme"],
  ]) {
    tokens[user] = await t.issuer.token(user, { roles: [role], organizations: [org] });
  }
  const orgs = userClient(t, OrganizationService);
  acme = (await orgs.listOrganizations({}, headers(tokens.alice))).items[0].metadata!.name!;
  globex = (await orgs.listOrganizations({}, headers(tokens.bob))).items[0].metadata!.name!;
  await postAlerts([
    alert(acme, "Device", "d1", "DeviceDisconnected", { fleet: "f1", device_label_site: "lab" }),
    alert(acme, "Device", "d2", "DeviceDiskWarning", { fleet: "f2" }),
    alert(acme, "Fleet", "f1", "FleetDevicesDisconnected", { fleet: "f1" }),
    alert(globex, "Device", "d1", "DeviceDisconnected", { fleet: "f1" }),
  ]);
  const deadline = Date.now() + 30_000;
  while ((await am.alerts()).length < 4) {
    if (Date.now() > deadline) throw new Error("alerts not in Alertmanager");
    await new Promise((r) => setTimeout(r, 200));
  }
  dir = mkdtempSync(join(tmpdir(), "fc-alert-cli-"));
});

after(async () => {
  await t?.close();
  await am?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

describe("AlertService.ListAlerts", () => {
  test("each organization gets only its own alerts, with labels, annotations, start and state", async () => {
    const a = await list(tokens.alice);
    assert.deepEqual(keys(a.items), [
      "acme:Device/d1:DeviceDisconnected",
      "acme:Device/d2:DeviceDiskWarning",
      "acme:Fleet/f1:FleetDevicesDisconnected",
    ]);
    const d1 = a.items.find((x) => x.resource === "d1")!;
    assert.equal(d1.fleet, "f1");
    assert.equal(d1.summary, "Device d1: DeviceDisconnected");
    assert.equal(d1.event, "evt-d1-DeviceDisconnected");
    assert.equal(Date.parse(d1.startsAt), Date.parse(started));
    assert.equal(d1.state, "active");
    assert.equal(d1.labels.device_label_site, "lab");
    assert.match(d1.fingerprint, /^[0-9a-f]+$/);
    assert.deepEqual(keys((await list(tokens.bob)).items), ["globex:Device/d1:DeviceDisconnected"]);
  });

  test("filters by kind, resource, fleet and alert name", async () => {
    assert.deepEqual(keys((await list(tokens.alice, { kind: "Fleet" })).items), ["acme:Fleet/f1:FleetDevicesDisconnected"]);
    assert.deepEqual(keys((await list(tokens.alice, { resource: "d1" })).items), ["acme:Device/d1:DeviceDisconnected"]);
    assert.deepEqual(keys((await list(tokens.alice, { fleet: "f1" })).items), [
      "acme:Device/d1:DeviceDisconnected",
      "acme:Fleet/f1:FleetDevicesDisconnected",
    ]);
    assert.deepEqual(keys((await list(tokens.alice, { alertname: "DeviceDiskWarning", kind: "Device" })).items), [
      "acme:Device/d2:DeviceDiskWarning",
    ]);
  });

  test("a filter value cannot add a matcher or reach another organization", async () => {
    for (const resource of [`d1",org_id="${globex}`, `d1"} or {org_id="${globex}`, ".*"]) {
      assert.deepEqual((await list(tokens.alice, { resource })).items, [], resource);
    }
    // Naming another organization is refused before anything is read.
    await assert.rejects(list(tokens.alice, { orgId: globex }), (e: ConnectError) => e.code === Code.PermissionDenied);
  });

  test("a bad kind is InvalidArgument naming the field; an installer is refused", async () => {
    await assert.rejects(
      list(tokens.alice, { kind: "Toaster" }),
      (e: ConnectError) => e.code === Code.InvalidArgument && /kind: must be Device or Fleet/.test(e.rawMessage),
    );
    await assert.rejects(list(tokens.ivan), (e: ConnectError) => e.code === Code.PermissionDenied);
  });

  test("activeOnly leaves out silenced alerts; otherwise they come with their state and silence", async () => {
    const res = await fetch(`${am.url}/api/v2/silences`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        matchers: [
          { name: "resource", value: "d2", isRegex: false },
          { name: "org_id", value: acme, isRegex: false },
        ],
        startsAt: new Date().toISOString(),
        endsAt: new Date(Date.now() + 3600_000).toISOString(),
        createdBy: "test",
        comment: "test",
      }),
    });
    const { silenceID } = (await res.json()) as { silenceID: string };
    try {
      const deadline = Date.now() + 30_000;
      let d2 = (await list(tokens.alice, { resource: "d2" })).items[0];
      while (d2.state !== "suppressed") {
        if (Date.now() > deadline) throw new Error(`d2 not suppressed: ${d2.state}`);
        await new Promise((r) => setTimeout(r, 200));
        d2 = (await list(tokens.alice, { resource: "d2" })).items[0];
      }
      assert.deepEqual(d2.silencedBy, [silenceID]);
      assert.deepEqual(keys((await list(tokens.alice, { activeOnly: true })).items), [
        "acme:Device/d1:DeviceDisconnected",
        "acme:Fleet/f1:FleetDevicesDisconnected",
      ]);
    } finally {
      await fetch(`${am.url}/api/v2/silence/${silenceID}`, { method: "DELETE" });
    }
  });

  test("without an Alertmanager: FailedPrecondition saying what to set", async () => {
    const bare = await startTestApp();
    try {
      await assert.rejects(
        createClient(AlertService, bare.transport).listAlerts({}),
        (e: ConnectError) => e.code === Code.FailedPrecondition && /FLIGHTCTL_ALERTMANAGER_URL/.test(e.rawMessage),
      );
    } finally {
      await bare.close();
    }
  });
});

describe("flightctl get alerts", () => {
  const cfg = () => join(dir, "config");
  const cli = (args: string[]) => runCli(cfg(), args);
  const ok = async (args: string[]) => {
    const r = await cli(args);
    assert.equal(r.code, 0, `flightctl ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    await ok(["login", `https://localhost:${t.api.port}`, "--certificate-authority", t.api.caPath, "--token", tokens.alice]);
  });

  test("a table of the organization's alerts; filters", async () => {
    const out = await ok(["get", "alerts"]);
    const lines = out.trim().split("\n");
    assert.match(lines[0], /^ALERTNAME\s+KIND\s+RESOURCE\s+FLEET\s+STATE\s+STARTED\s+SUMMARY$/);
    assert.equal(lines.length, 4, out);
    assert.match(out, /DeviceDisconnected\s+Device\s+d1\s+f1\s+active\s+\d+ minutes? ago\s+Device d1: DeviceDisconnected/);
    const fleet = await ok(["get", "alerts", "--fleetname", "f1", "-o", "wide"]);
    assert.equal(fleet.trim().split("\n").length, 3, fleet);
    assert.match(fleet, /LABELS/);
    assert.match(fleet, /site=lab/);
    const one = await ok(["get", "alerts", "--resource", "device/d1"]);
    assert.equal(one.trim().split("\n").length, 2, one);
    assert.match(await ok(["get", "alerts", "--alertname", "NoSuchRule"]), /^ALERTNAME/);
  });

  test("-o json and -o yaml", async () => {
    const json = JSON.parse(await ok(["get", "alerts", "-o", "json"]));
    assert.equal(json.kind, "AlertList");
    assert.deepEqual(json.items.map((a: { resource: string }) => a.resource).sort(), ["d1", "d2", "f1"]);
    const d1 = json.items.find((a: { resource: string }) => a.resource === "d1");
    assert.equal(d1.event, "evt-d1-DeviceDisconnected");
    assert.equal(d1.labels.org_id, acme);
    const yaml = parse(await ok(["get", "alerts", "--resource", "fleet/f1", "-o", "yaml"]));
    assert.deepEqual(
      yaml.items.map((a: { kind: string; resource: string }) => `${a.kind}/${a.resource}`),
      ["Fleet/f1"],
    );
  });

  test("usage errors and server refusals are clear", async () => {
    const named = await cli(["get", "alerts", "foo"]);
    assert.equal(named.code, 1);
    assert.match(named.stderr, /alerts are listed, not named/);
    const bad = await cli(["get", "alerts", "--resource", "toaster/x"]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--resource must be device\/NAME, fleet\/NAME or NAME/);
    const sel = await cli(["get", "alerts", "-l", "a=b"]);
    assert.equal(sel.code, 1);
    assert.match(sel.stderr, /--selector does not apply to alerts/);
  });

  test("Alertmanager down: Unavailable, said plainly", async () => {
    await am.stop();
    try {
      await assert.rejects(
        list(tokens.alice),
        (e: ConnectError) => e.code === Code.Unavailable && /cannot reach Alertmanager/.test(e.rawMessage),
      );
      const r = await cli(["get", "alerts"]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /cannot reach Alertmanager/);
    } finally {
      await am.start();
    }
  });
});
