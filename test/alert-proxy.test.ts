// flightctl-alertmanager-proxy against a real Alertmanager (Debian's prometheus-alertmanager) with real tokens from a
// test OIDC issuer: two organizations' alerts side by side, posted straight to Alertmanager with the labels of
// docs/alerts.md. Each organization sees, groups and silences only its own; a silence from one never silences the
// other's alert (Alertmanager's own silencedBy says so); roles; 401/400; the unauthenticated paths; TLS.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import https from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import pino from "pino";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { startTestIssuer, type TestIssuer } from "./helpers/oidc.js";
import { startAlertmanager, type AlertmanagerServer, type AmAlert } from "./helpers/alertmanager.js";
import { OrganizationService } from "../gen/flightctl/v1beta1/organization_service_pb.js";
import { loadConfig } from "../server/config.js";
import { startProxyProcess } from "../server/main/alertmanager-proxy.js";
import type { RunningProxy } from "../server/alerts-proxy/proxy.js";

let t: TestApp;
let issuer: TestIssuer;
let am: AlertmanagerServer;
let proxy: RunningProxy;
let base: string;
/** Organization ids (the org_id label) of acme and globex. */
let acme: string;
let globex: string;
const tokens: Record<string, string> = {};
const log = pino({ level: "silent" });

const proxyConfig = (tls: boolean) =>
  loadConfig({
    FLIGHTCTL_DATA_DIR: t.pkiDir,
    FLIGHTCTL_ALERTMANAGER_URL: am.url,
    FLIGHTCTL_ALERTMANAGER_PROXY_ADDRESS: "127.0.0.1:0",
    FLIGHTCTL_ALERTMANAGER_PROXY_TLS: String(tls),
  });

/** Posts alerts straight to Alertmanager, as the exporter does. */
async function postAlerts(alerts: { labels: Record<string, string>; annotations?: Record<string, string> }[]) {
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(alerts.map((a) => ({ ...a, startsAt: new Date().toISOString() }))),
  });
  assert.equal(res.status, 200, await res.text());
}

const alert = (org: string, resource: string, alertname = "DeviceDisconnected") => ({
  labels: { alertname, resource, kind: "Device", org_id: org },
  annotations: { summary: `${resource} is disconnected`, event: `${resource}-evt` },
});

/** A call to the proxy; the answer's status and JSON body. */
async function call(path: string, opts: { token?: string; method?: string; body?: unknown } = {}) {
  const res = await fetch(`${base}${path}`, {
    method: opts.method ?? "GET",
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const q = (...filters: string[]) => `?${new URLSearchParams(filters.map((f) => ["filter", f]))}`;
const resources = (alerts: AmAlert[]) => alerts.map((a) => `${a.labels.org_id === acme ? "acme" : "globex"}/${a.labels.resource}`).sort();

/** Polls Alertmanager until `pred` holds for its alerts (silencing is applied asynchronously). */
async function waitAlerts(pred: (all: AmAlert[]) => boolean, what: string): Promise<AmAlert[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const all = await am.alerts();
    if (pred(all)) return all;
    if (Date.now() > deadline) throw new Error(`${what}: not within 30 s: ${JSON.stringify(all.map((a) => [a.labels, a.status]))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const inOneHour = () => ({ startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3600_000).toISOString() });

before(async () => {
  issuer = await startTestIssuer();
  t = await startTestApp({ realAuth: true, staticAuthProviders: [issuer.provider()] });
  am = await startAlertmanager();
  const users: [string, string, string][] = [
    ["alice", "flightctl-viewer", "acme"],
    ["anna", "flightctl-operator", "acme"],
    ["bob", "flightctl-operator", "globex"],
    ["ivan", "flightctl-installer", "acme"],
  ];
  for (const [user, role, org] of users) tokens[user] = await issuer.token(user, { roles: [role], organizations: [org] });
  const orgs = createClient(OrganizationService, t.transport);
  const orgOf = async (token: string) =>
    (await orgs.listOrganizations({}, { headers: { authorization: `Bearer ${token}` } })).items[0].metadata!.name!;
  acme = await orgOf(tokens.alice);
  globex = await orgOf(tokens.bob);
  proxy = await startProxyProcess(proxyConfig(false), t.db.url, log, [issuer.provider()]);
  base = `http://127.0.0.1:${proxy.port}`;
  await postAlerts([alert(acme, "a1"), alert(acme, "a2", "DeviceDiskWarning"), alert(globex, "g1"), alert(globex, "g2")]);
  await waitAlerts((all) => all.length === 4, "the four alerts in Alertmanager");
});

after(async () => {
  await proxy?.close();
  await am?.close();
  await t?.close();
  await issuer?.close();
  await assertNoOpenHandles();
});

describe("reading alerts", () => {
  test("each organization sees only its own alerts, filtered or not", async () => {
    const a = await call("/api/v2/alerts", { token: tokens.alice });
    assert.equal(a.status, 200);
    assert.deepEqual(resources(a.body), ["acme/a1", "acme/a2"]);
    const b = await call("/api/v2/alerts", { token: tokens.bob });
    assert.deepEqual(resources(b.body), ["globex/g1", "globex/g2"]);
    const filtered = await call(`/api/v2/alerts${q('alertname="DeviceDisconnected"')}`, { token: tokens.alice });
    assert.deepEqual(resources(filtered.body), ["acme/a1"]);
    // Naming one's own organization is fine.
    const own = await call(`/api/v2/alerts${q(`org_id="${acme}"`)}`, { token: tokens.alice });
    assert.deepEqual(resources(own.body), ["acme/a1", "acme/a2"]);
  });

  test("groups hold only the organization's alerts", async () => {
    const g = await call("/api/v2/alerts/groups", { token: tokens.alice });
    assert.equal(g.status, 200);
    const all = (g.body as { alerts: AmAlert[] }[]).flatMap((x) => x.alerts);
    assert.deepEqual(resources(all), ["acme/a1", "acme/a2"]);
    assert.ok((g.body as unknown[]).length >= 2, "grouped by alertname and resource");
  });

  test("asking for another organization's alerts, or any org_id but one's own, is 403", async () => {
    for (const filter of [`org_id="${globex}"`, 'org_id=~".*"', `org_id!="${acme}"`, `org_id="${globex}"&filter=org_id="${acme}"`]) {
      for (const path of ["/api/v2/alerts", "/api/v2/alerts/groups"]) {
        const r = await call(`${path}?filter=${filter.replaceAll('"', "%22")}`, { token: tokens.alice });
        assert.equal(r.status, 403, `${path} ${filter}: ${JSON.stringify(r.body)}`);
      }
    }
    const byParam = await call(`/api/v2/alerts?org_id=${globex}`, { token: tokens.alice });
    assert.equal(byParam.status, 403);
    assert.match(byParam.body.message, /not a member/);
    // An organization that does not exist looks the same (no probing for ids).
    const none = await call("/api/v2/alerts?org_id=00000000-0000-4000-8000-00000000dead", { token: tokens.alice });
    assert.equal(none.status, 403);
  });

  test("malformed filters and parameters are a 400 naming the problem", async () => {
    const cases: [string, RegExp][] = [
      ["/api/v2/alerts?filter=alertname", /filter\[0\].*label matcher/],
      ['/api/v2/alerts?filter=alertname%3D"open', /filter\[0\].*not closed/],
      ["/api/v2/alerts?filter=1abc%3Dx", /filter\[0\].*label name/],
      ['/api/v2/alerts?filter=resource%3D"a1"&filter=alertname%3D~"(unclosed"', /filter\[1\].*regular expression/],
      ["/api/v2/alerts?active=maybe", /active: must be true or false/],
      ["/api/v2/alerts?silenced=yes", /silenced/],
      ["/api/v2/alerts/groups?unprocessed=true", /unprocessed: is not a parameter/],
      ["/api/v2/alerts?fliter=x", /fliter: is not a parameter/],
      ["/api/v2/alerts?org_id=not-a-uuid", /org/i],
      ["/api/v2/silence/%E0%A4%A", /id: is not a valid percent-encoded silence id/],
    ];
    for (const [path, message] of cases) {
      const r = await call(path, { token: tokens.alice });
      assert.equal(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message, message, path);
    }
  });
});

describe("roles and authentication", () => {
  test("no token is 401; a bad token is 401", async () => {
    for (const path of ["/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences"]) {
      const r = await call(path);
      assert.equal(r.status, 401, path);
      assert.match(r.body.message, /Authorization: Bearer/);
    }
    assert.equal((await call("/api/v2/alerts", { token: "not.a.jwt" })).status, 401);
  });

  test("an installer may read nothing", async () => {
    for (const path of ["/api/v2/alerts", "/api/v2/alerts/groups", "/api/v2/silences"]) {
      const r = await call(path, { token: tokens.ivan });
      assert.equal(r.status, 403, path);
      assert.match(r.body.message, /ivan may not list alerts/);
    }
  });

  test("a viewer reads but may not silence", async () => {
    assert.equal((await call("/api/v2/silences", { token: tokens.alice })).status, 200);
    const r = await call("/api/v2/silences", {
      token: tokens.alice,
      method: "POST",
      body: { matchers: [{ name: "resource", value: "a1", isRegex: false }], ...inOneHour(), comment: "x", createdBy: "alice" },
    });
    assert.equal(r.status, 403);
    assert.match(r.body.message, /alice may not create alerts\/silences/);
  });

  test("health, readiness and status need no token; other paths are 404/405", async () => {
    assert.equal((await fetch(`${base}/-/healthy`)).status, 200);
    assert.equal((await fetch(`${base}/-/ready`)).status, 200);
    const status = await call("/api/v2/status");
    assert.equal(status.status, 200);
    assert.ok(status.body.versionInfo?.version, "Alertmanager's own status");
    assert.equal((await call("/api/v2/receivers", { token: tokens.alice })).status, 404);
    // Alerts are posted by the exporter straight to Alertmanager, never by users through the proxy.
    const post = await call("/api/v2/alerts", { token: tokens.anna, method: "POST", body: [] });
    assert.equal(post.status, 405);
  });
});

describe("silences", () => {
  test("a silence from one organization silences its alert and never the other's", async () => {
    // Matches every DeviceDisconnected alert by name; the proxy scopes it to acme.
    const made = await call("/api/v2/silences", {
      token: tokens.anna,
      method: "POST",
      body: {
        matchers: [{ name: "alertname", value: "DeviceDisconnected", isRegex: false }],
        ...inOneHour(),
        comment: "maintenance",
        createdBy: "someone-else",
      },
    });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const id = made.body.silenceID as string;
    const all = await waitAlerts(
      (list) => list.some((a) => a.labels.resource === "a1" && a.status.silencedBy.includes(id)),
      "acme's a1 silenced",
    );
    const by = (r: string) => all.find((a) => a.labels.resource === r)!.status;
    assert.deepEqual(by("a1").silencedBy, [id]);
    assert.equal(by("a1").state, "suppressed");
    for (const r of ["g1", "g2", "a2"]) assert.deepEqual(by(r).silencedBy, [], `${r} not silenced`);
    // Stored with org_id="<acme>" added and the real author.
    const stored = await (await fetch(`${am.url}/api/v2/silence/${id}`)).json();
    assert.deepEqual(stored.matchers.map((m: { name: string; value: string }) => `${m.name}=${m.value}`).sort(), [
      "alertname=DeviceDisconnected",
      `org_id=${acme}`,
    ]);
    assert.equal(stored.createdBy, "anna");

    // acme lists it, globex does not; globex can neither read, replace nor delete it.
    const acmeList = await call("/api/v2/silences", { token: tokens.alice });
    assert.deepEqual(
      acmeList.body.map((s: { id: string }) => s.id),
      [id],
    );
    assert.deepEqual((await call("/api/v2/silences", { token: tokens.bob })).body, []);
    assert.equal((await call(`/api/v2/silence/${id}`, { token: tokens.bob })).status, 404);
    assert.equal((await call(`/api/v2/silence/${id}`, { token: tokens.bob, method: "DELETE" })).status, 404);
    const replace = await call("/api/v2/silences", {
      token: tokens.bob,
      method: "POST",
      body: { id, matchers: [{ name: "alertname", value: "DeviceDisconnected", isRegex: false }], ...inOneHour(), comment: "hijack" },
    });
    assert.equal(replace.status, 404);
    assert.equal((await (await fetch(`${am.url}/api/v2/silence/${id}`)).json()).status.state, "active");
    // A viewer of acme may read it but not delete it; its operator may.
    assert.equal((await call(`/api/v2/silence/${id}`, { token: tokens.alice })).status, 200);
    assert.equal((await call(`/api/v2/silence/${id}`, { token: tokens.alice, method: "DELETE" })).status, 403);
    assert.equal((await call(`/api/v2/silence/${id}`, { token: tokens.anna, method: "DELETE" })).status, 200);
    assert.equal((await (await fetch(`${am.url}/api/v2/silence/${id}`)).json()).status.state, "expired");
    await waitAlerts((list) => list.every((a) => a.status.silencedBy.length === 0), "a1 no longer silenced");
  });

  test("a silence naming another organization, or any org_id but the caller's own, is refused", async () => {
    const body = (matchers: unknown[]) => ({ matchers, ...inOneHour(), comment: "x" });
    const name = { name: "alertname", value: "DeviceDisconnected", isRegex: false };
    for (const orgMatcher of [
      { name: "org_id", value: globex, isRegex: false },
      { name: "org_id", value: ".*", isRegex: true },
      { name: "org_id", value: acme, isRegex: false, isEqual: false },
    ]) {
      const r = await call("/api/v2/silences", { token: tokens.anna, method: "POST", body: body([name, orgMatcher]) });
      assert.equal(r.status, 403, JSON.stringify(orgMatcher));
    }
    // Naming its own organization explicitly is fine.
    const own = await call("/api/v2/silences", {
      token: tokens.anna,
      method: "POST",
      body: body([name, { name: "org_id", value: acme, isRegex: false }]),
    });
    assert.equal(own.status, 200);
    assert.equal((await call(`/api/v2/silence/${own.body.silenceID}`, { token: tokens.anna, method: "DELETE" })).status, 200);
    assert.equal((await am.alerts()).filter((a) => a.labels.org_id === globex && a.status.silencedBy.length > 0).length, 0);
  });

  test("a malformed silence is a 400 naming the field", async () => {
    const cases: [unknown, RegExp][] = [
      [{ matchers: [], ...inOneHour() }, /matchers: must be a non-empty list/],
      [{ matchers: [{ name: "a b", value: "x", isRegex: false }], ...inOneHour() }, /matchers\[0\]\.name/],
      [{ matchers: [{ name: "a", value: "(", isRegex: true }], ...inOneHour() }, /matchers\[0\]\.value: bad regular expression/],
      [{ matchers: [{ name: "a", value: "x", isRegex: false }], startsAt: "soon", endsAt: "later" }, /startsAt: must be an RFC 3339 time/],
      [
        { matchers: [{ name: "a", value: "x", isRegex: false }], startsAt: new Date().toISOString(), endsAt: new Date(0).toISOString() },
        /endsAt: must be after startsAt/,
      ],
      ["just a string", /JSON silence object/],
    ];
    for (const [body, message] of cases) {
      const r = await call("/api/v2/silences", { token: tokens.anna, method: "POST", body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.message, message);
    }
  });
});

describe("TLS", () => {
  test("with TLS on, the proxy serves the user endpoint's certificate", async () => {
    const tlsProxy = await startProxyProcess(proxyConfig(true), t.db.url, log, [issuer.provider()]);
    try {
      const ca = readFileSync(join(t.pkiDir, "certs", "ca.crt"), "utf8");
      const get = (path: string, token?: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = https.request(
            { host: "localhost", port: tlsProxy.port, path, ca, headers: token ? { authorization: `Bearer ${token}` } : {} },
            (res) => {
              let body = "";
              res.on("data", (c) => (body += c));
              res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            },
          );
          req.on("error", reject);
          req.end();
        });
      assert.equal((await get("/-/healthy")).status, 200);
      const r = await get("/api/v2/alerts", tokens.bob);
      assert.equal(r.status, 200);
      assert.deepEqual(resources(JSON.parse(r.body)), ["globex/g1", "globex/g2"]);
    } finally {
      await tlsProxy.close();
    }
  });
});
