// AAP: flightctl-userinfo-proxy (AAP's /me as OIDC UserInfo, for Grafana) and the `aap` AuthProvider (AAP tokens
// authenticated through the gateway, organizations and roles mapped as flightctl maps them), both against an
// AAP-shaped HTTPS server with a CA of its own.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { startAapServer, type AapTestServer } from "./helpers/aap.js";
import { startTestApp, type TestApp } from "./helpers/app.js";
import { freePort } from "./helpers/ports.js";
import { startUserinfoProxy } from "../server/userinfo-proxy/proxy.js";
import { createAuthFetch } from "../server/auth/http-client.js";
import { createLogger } from "../lib/logger.js";
import { AuthProviderSchema } from "../gen/flightctl/v1beta1/authprovider_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { OrganizationService } from "../gen/flightctl/v1beta1/organization_service_pb.js";
import { AuthService } from "../gen/flightctl/v1beta1/auth_service_pb.js";

let aap: AapTestServer;
const log = createLogger("test", "silent");

before(async () => {
  aap = await startAapServer(
    {
      "root-token": { id: 1, username: "root", is_superuser: true, ansibleId: "u-root", organizations: [] },
      "audit-token": { id: 2, username: "auditor", is_platform_auditor: true, first_name: "Ann", ansibleId: "u-aud", organizations: [] },
      "bob-token": {
        id: 7,
        username: "bob",
        email: "bob@example.com",
        first_name: "Bob",
        last_name: "Builder",
        ansibleId: "u-bob",
        organizations: ["Edge East"],
        teams: [{ name: "ops", organization: "Edge West", ansibleId: "t-ops" }],
        roles: [
          { role: "flightctl-viewer", organization: "Edge East" },
          // Not an organization role, and a role that is no flightctl role: both ignored.
          { role: "flightctl-org-admin", organization: "Edge East", contentType: "awx.inventory" },
          { role: "Organization Member", organization: "Edge East" },
        ],
      },
    },
    ["Default", "Edge East", "Edge West"],
  );
  aap.teamRoles.set("t-ops", [{ role: "flightctl-operator", organization: "Edge West" }]);
});
after(async () => {
  await aap.close();
  await assertNoOpenHandles();
});

describe("flightctl-userinfo-proxy", () => {
  let proxy: { port: number; close(): Promise<void> };
  const get = (token?: string, method = "GET") =>
    fetch(`http://127.0.0.1:${proxy.port}/userinfo`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  before(async () => {
    proxy = await startUserinfoProxy({
      upstreamUrl: `${aap.url}/api/gateway/v1/me/`,
      fetch: createAuthFetch([aap.caPem]),
      host: "127.0.0.1",
      port: 0,
      log,
    });
  });
  after(() => proxy.close());

  test("a valid token: the AAP user as OIDC UserInfo claims, roles by superuser / auditor / neither", async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await get("bob-token");
    assert.equal(res.status, 200);
    const bob = await res.json();
    assert.ok(bob.updated_at >= before);
    assert.deepEqual(
      { ...bob, updated_at: 0 },
      {
        sub: "7",
        preferred_username: "bob",
        email: "bob@example.com",
        email_verified: true,
        name: "Bob Builder",
        given_name: "Bob",
        family_name: "Builder",
        updated_at: 0,
        roles: ["Viewer"],
        groups: ["user"],
      },
    );
    const root = await (await get("root-token")).json();
    assert.deepEqual([root.name, root.given_name, root.family_name, root.roles, root.groups], ["root", "root", "", ["Admin"], ["admin"]]);
    const aud = await (await get("audit-token")).json();
    assert.deepEqual([aud.name, aud.given_name, aud.roles, aud.groups], ["Ann", "Ann", ["Editor"], ["auditor"]]);
  });

  test("no token or a token AAP refuses (expired): 401; another method: 405", async () => {
    const none = await get();
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), "Bearer");
    const expired = await get("expired-token");
    assert.equal(expired.status, 401);
    assert.match((await expired.json()).error_description, /AAP refused the token \(the upstream answered HTTP 401\)/);
    const post = await get("bob-token", "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
  });

  test("AAP down, failing, or not trusted: 502 naming the cause", async () => {
    aap.failWith = 503;
    try {
      const res = await get("bob-token");
      assert.equal(res.status, 502);
      assert.match((await res.json()).error_description, /HTTP 503/);
    } finally {
      aap.failWith = undefined;
    }
    // A proxy without the AAP CA refuses the upstream's certificate.
    const untrusting = await startUserinfoProxy({
      upstreamUrl: `${aap.url}/api/gateway/v1/me/`,
      fetch: createAuthFetch([]),
      host: "127.0.0.1",
      port: 0,
      log,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${untrusting.port}/userinfo`, { headers: { authorization: "Bearer bob-token" } });
      assert.equal(res.status, 502);
      assert.match((await res.json()).error_description, /certificate/);
    } finally {
      await untrusting.close();
    }
    // Nothing listening.
    const down = await startUserinfoProxy({
      upstreamUrl: `https://127.0.0.1:${await freePort()}/api/gateway/v1/me/`,
      fetch: createAuthFetch([aap.caPem]),
      host: "127.0.0.1",
      port: 0,
      log,
    });
    try {
      const res = await fetch(`http://127.0.0.1:${down.port}/userinfo`, { headers: { authorization: "Bearer bob-token" } });
      assert.equal(res.status, 502);
      assert.match((await res.json()).error_description, /ECONNREFUSED/);
    } finally {
      await down.close();
    }
  });

  test("the bin reads FLIGHTCTL_USERINFO_* (the CA file) and serves the same", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fc-userinfo-"));
    const port = await freePort();
    writeFileSync(join(dir, "ca.pem"), aap.caPem);
    const child = spawn(process.execPath, ["bin/flightctl-userinfo-proxy.js"], {
      env: {
        ...process.env,
        FLIGHTCTL_USERINFO_ADDRESS: `127.0.0.1:${port}`,
        FLIGHTCTL_USERINFO_UPSTREAM_URL: `${aap.url}/api/gateway/v1/me/`,
        FLIGHTCTL_USERINFO_CA_FILE: join(dir, "ca.pem"),
        LOG_LEVEL: "error",
      },
      stdio: "ignore",
    });
    try {
      let res: Response | undefined;
      for (let i = 0; i < 300 && !res; i++) {
        res = await fetch(`http://127.0.0.1:${port}/userinfo`, { headers: { authorization: "Bearer root-token" } }).catch(() => undefined);
        if (!res) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(res?.status, 200);
      assert.deepEqual((await res!.json()).roles, ["Admin"]);
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => child.once("exit", r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the aap AuthProvider", () => {
  let t: TestApp;
  const as = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  before(async () => {
    const provider = create(AuthProviderSchema, {
      apiVersion: "v1beta1",
      kind: "AuthProvider",
      metadata: { name: "aap" },
      spec: { providerType: "aap", apiUrl: aap.url, clientId: "flightctl", enabled: true },
    });
    t = await startTestApp({ realAuth: true, staticAuthProviders: [provider], fetch: createAuthFetch([aap.caPem]) });
  });
  after(() => t.close());

  test("organizations and roles as AAP assigns them; an AAP token lists the devices of its organization", async () => {
    const orgs = createClient(OrganizationService, t.transport);
    const devices = createClient(DeviceService, t.transport);
    const auth = createClient(AuthService, t.transport);
    // bob: Edge East directly (viewer there), Edge West through team ops (operator there, a team role).
    const bobOrgs = await orgs.listOrganizations({}, as("bob-token"));
    const byName = new Map(bobOrgs.items.map((o) => [o.spec?.externalId, o.metadata!.name!]));
    assert.deepEqual([...byName.keys()].sort(), ["Edge East", "Edge West"]);
    const east = byName.get("Edge East")!;
    const west = byName.get("Edge West")!;
    const device = (name: string) => ({ device: { apiVersion: "v1beta1", kind: "Device", metadata: { name }, spec: {} } });
    await assert.rejects(
      devices.createDevice({ ...device("e1"), orgId: east }, as("bob-token")),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
    await devices.createDevice({ ...device("w1"), orgId: west }, as("bob-token"));
    // The superuser is flightctl-admin in every organization: it adds a device to Edge East, which bob may list.
    await devices.createDevice({ ...device("e1"), orgId: east }, as("root-token"));
    assert.deepEqual(
      (await devices.listDevices({ orgId: east }, as("bob-token"))).items.map((d) => d.metadata?.name),
      ["e1"],
    );
    assert.deepEqual(
      (await devices.listDevices({ orgId: west }, as("bob-token"))).items.map((d) => d.metadata?.name),
      ["w1"],
    );
    // The auditor sees every organization, read-only.
    assert.equal((await devices.listDevices({ orgId: west }, as("audit-token"))).items.length, 1);
    await assert.rejects(
      devices.createDevice({ ...device("a1"), orgId: west }, as("audit-token")),
      (e: ConnectError) => e.code === Code.PermissionDenied,
    );
    const info = await auth.getUserInfo({}, as("bob-token"));
    assert.equal(info.preferredUsername ?? info.name, "bob");
  });

  test("identities are cached briefly; a refused token is Unauthenticated; AAP down is Unavailable", async () => {
    const devices = createClient(DeviceService, t.transport);
    const orgs = createClient(OrganizationService, t.transport);
    const east = (await orgs.listOrganizations({}, as("bob-token"))).items.find((o) => o.spec?.externalId === "Edge East")!.metadata!.name!;
    const hits = aap.hits.length;
    await devices.listDevices({ orgId: east }, as("bob-token"));
    assert.equal(aap.hits.length, hits, "a cached identity asked AAP again");
    await assert.rejects(devices.listDevices({}, as("expired-token")), (e: ConnectError) => e.code === Code.Unauthenticated);
    aap.failWith = 502;
    try {
      await assert.rejects(
        devices.listDevices({}, as("new-token")),
        (e: ConnectError) => e.code === Code.Unavailable && /HTTP 502/.test(e.rawMessage),
      );
    } finally {
      aap.failWith = undefined;
    }
  });
});
