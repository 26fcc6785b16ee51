// The built-in PAM issuer with a real Linux user created by the test (needs root, as CI runs): password grant,
// authorization code + PKCE through the login form, refresh picking up group changes, userinfo, the bootstrap
// admin, and the API accepting its tokens (and refusing a wrong password's and a foreign issuer's).
import { assertNoOpenHandles } from "../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createRemoteJWKSet, jwtVerify } from "jose";
import pino from "pino";
import { oidcProvider } from "../auth/oidc-provider.js";
import { AuthService } from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { startTestApp, type TestApp } from "../../test/helpers/app.js";
import { startTestIssuer } from "../../test/helpers/oidc.js";
import { createPamIssuer } from "./issuer.js";
import { loadPam } from "./users.js";

const isRoot = process.getuid?.() === 0;
const pamBuilt = loadPam() !== undefined;
const skip = !isRoot ? "needs root to create a Linux user" : !pamBuilt ? "authenticate-pam is not built" : false;

const suffix = randomBytes(3).toString("hex");
const user = `fcpam${suffix}`;
const password = `pw-${randomBytes(8).toString("hex")}`;
const groups = ["flightctl-operator", "org-eng", "eng.flightctl-viewer", `fcextra${suffix}`];
const createdGroups: string[] = [];
const clientId = "flightctl-client";
const redirectUri = "http://127.0.0.1:7777/callback";

let dataDir: string;
let server: http.Server;
let issuerUrl: string;
let issuer: ReturnType<typeof createPamIssuer>;

function sh(cmd: string, args: string[], input?: string) {
  return execFileSync(cmd, args, { input, stdio: ["pipe", "pipe", "pipe"] }).toString();
}

before(async () => {
  if (skip) return;
  for (const g of groups) {
    try {
      sh("getent", ["group", g]);
    } catch {
      sh("groupadd", [g]);
      createdGroups.push(g);
    }
  }
  sh("useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", "-c", "Pam Tester", "-G", groups.slice(0, 3).join(","), user]);
  sh("chpasswd", [], `${user}:${password}\n`);
  dataDir = mkdtempSync(join(tmpdir(), "fc-pam-"));
  server = http.createServer((req, res) => issuer.handle(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  issuerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/auth`;
  issuer = createPamIssuer({
    issuerUrl,
    dataDir,
    clientId,
    redirectUris: [redirectUri],
    bootstrapAdmin: { username: "admin", password: "bootstrap-secret" },
    log: pino({ level: "silent" }),
  });
});

after(async () => {
  if (!skip) {
    issuer.close();
    await new Promise<void>((r) => server.close(() => r()));
    try {
      sh("userdel", [user]);
    } catch {
      // already gone
    }
    for (const g of createdGroups) {
      try {
        sh("groupdel", [g]);
      } catch {
        // still used or gone
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  await assertNoOpenHandles();
});

async function post(path: string, form: Record<string, string>) {
  const res = await fetch(`${issuerUrl}${path}`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(form), redirect: "manual" });
  const text = await res.text();
  return { status: res.status, location: res.headers.get("location"), text, json: () => JSON.parse(text) as Record<string, string> };
}

const passwordGrant = (username: string, pass: string) => post("/token", { grant_type: "password", client_id: clientId, username, password: pass });

describe("PAM issuer", { skip }, () => {
  test("discovery names every endpoint under the issuer URL", async () => {
    const doc = (await (await fetch(`${issuerUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(doc.issuer, issuerUrl);
    assert.equal(doc.token_endpoint, `${issuerUrl}/token`);
    assert.deepEqual(doc.code_challenge_methods_supported, ["S256"]);
  });

  test("the right password gives tokens that verify against the JWKS, with roles and organizations from groups", async () => {
    const res = await passwordGrant(user, password);
    assert.equal(res.status, 200, res.text);
    const { payload } = await jwtVerify(res.json().access_token, createRemoteJWKSet(new URL(`${issuerUrl}/jwks`)), { issuer: issuerUrl, audience: clientId });
    assert.equal(payload.preferred_username, user);
    assert.equal(payload.name, user);
    assert.ok((payload.roles as string[]).includes("flightctl-operator"));
    assert.ok((payload.roles as string[]).includes("eng:flightctl-viewer"));
    assert.deepEqual(payload.organizations, ["eng"]);
    assert.ok((payload.exp as number) - (payload.iat as number) <= 3600);
  });

  test("a wrong password is refused", async () => {
    const res = await passwordGrant(user, "wrong");
    assert.equal(res.status, 401);
    assert.equal(res.json().error, "invalid_grant");
    assert.equal((await passwordGrant("nosuchuser", "x")).status, 401);
  });

  test("authorization code + PKCE through the login form; codes are single-use and bound to the verifier", async () => {
    const verifier = randomBytes(32).toString("base64url");
    const challenge = createHash("sha256").update(verifier).digest("base64url");
    const q = new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: redirectUri, state: "st-1", code_challenge: challenge, code_challenge_method: "S256", scope: "openid roles" });
    const page = await fetch(`${issuerUrl}/authorize?${q}`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<label for="password">/);
    const requestId = /name="request" value="([^"]+)"/.exec(html)![1];

    const bad = await post("/login", { request: requestId, username: user, password: "wrong" });
    assert.equal(bad.status, 401);
    assert.match(bad.text, /Wrong user name or password/);

    const ok = await post("/login", { request: requestId, username: user, password });
    assert.equal(ok.status, 302);
    const back = new URL(ok.location!);
    assert.equal(back.searchParams.get("state"), "st-1");
    const code = back.searchParams.get("code")!;

    const wrongVerifier = await post("/token", { grant_type: "authorization_code", client_id: clientId, code, redirect_uri: redirectUri, code_verifier: "nope" });
    assert.equal(wrongVerifier.status, 400);
    // The failed exchange used the code up.
    const reuse = await post("/token", { grant_type: "authorization_code", client_id: clientId, code, redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(reuse.json().error, "invalid_grant");

    // A fresh round trip succeeds.
    const page2 = await (await fetch(`${issuerUrl}/authorize?${q}`)).text();
    const ok2 = await post("/login", { request: /name="request" value="([^"]+)"/.exec(page2)![1], username: user, password });
    const code2 = new URL(ok2.location!).searchParams.get("code")!;
    const tokens = await post("/token", { grant_type: "authorization_code", client_id: clientId, code: code2, redirect_uri: redirectUri, code_verifier: verifier });
    assert.equal(tokens.status, 200, tokens.text);
    assert.ok(tokens.json().id_token && tokens.json().refresh_token);
  });

  test("authorize refuses unknown redirect URIs and requests without PKCE", async () => {
    const base = { response_type: "code", client_id: clientId, code_challenge: "x".repeat(43), code_challenge_method: "S256" };
    const r1 = await fetch(`${issuerUrl}/authorize?${new URLSearchParams({ ...base, redirect_uri: "https://evil.example/cb" })}`);
    assert.equal(r1.status, 400);
    const { code_challenge: _c, ...noPkce } = base;
    const r2 = await fetch(`${issuerUrl}/authorize?${new URLSearchParams({ ...noPkce, redirect_uri: redirectUri })}`);
    assert.equal(r2.status, 400);
    // A loopback redirect on another port is allowed (RFC 8252 native apps).
    const r3 = await fetch(`${issuerUrl}/authorize?${new URLSearchParams({ ...base, redirect_uri: "http://127.0.0.1:51234/callback" })}`);
    assert.equal(r3.status, 200);
  });

  test("refresh re-reads groups; userinfo answers for access tokens only", async () => {
    const first = (await passwordGrant(user, password)).json();
    sh("usermod", ["-a", "-G", `fcextra${suffix}`, user]);
    const refreshed = await post("/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: first.refresh_token });
    assert.equal(refreshed.status, 200, refreshed.text);
    const info = (await (await fetch(`${issuerUrl}/userinfo`, { headers: { authorization: `Bearer ${refreshed.json().access_token}` } })).json()) as Record<string, string[]>;
    assert.ok(info.roles.includes(`fcextra${suffix}`));
    const refreshAsAccess = await fetch(`${issuerUrl}/userinfo`, { headers: { authorization: `Bearer ${first.refresh_token}` } });
    assert.equal(refreshAsAccess.status, 401);
  });

  test("the bootstrap admin logs in without PAM", async () => {
    const res = await passwordGrant("admin", "bootstrap-secret");
    assert.equal(res.status, 200);
    const info = (await (await fetch(`${issuerUrl}/userinfo`, { headers: { authorization: `Bearer ${res.json().access_token}` } })).json()) as Record<string, unknown>;
    assert.deepEqual(info.roles, ["flightctl-admin"]);
    assert.equal((await passwordGrant("admin", "wrong")).status, 401);
  });

  describe("the API trusting the issuer", () => {
    let t: TestApp;
    before(async () => {
      const provider = oidcProvider("pam", issuerUrl, clientId);
      t = await startTestApp({ realAuth: true, staticAuthProviders: [provider] });
    });
    after(() => t.close());

    test("a PAM user's token works on the API with the roles its groups give", async () => {
      const token = (await passwordGrant(user, password)).json().access_token;
      const devices = createClient(DeviceService, t.transport);
      const headers = { authorization: `Bearer ${token}` };
      // Operator globally: may create devices in its organization "eng".
      await devices.createDevice({ device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "pam-made" }, spec: {} } }, { headers });
      assert.equal((await devices.listDevices({}, { headers })).items.length, 1);
      const info = await createClient(AuthService, t.transport).getUserInfo({}, { headers });
      assert.equal(info.preferredUsername, user);
      assert.deepEqual(info.organizations.map((o) => o.spec?.externalId), ["eng"]);
    });

    test("a token from an issuer that is not configured is refused", async () => {
      const stranger = await startTestIssuer(clientId);
      try {
        const token = await stranger.token(user, { roles: ["flightctl-admin"] });
        await assert.rejects(createClient(DeviceService, t.transport).listDevices({}, { headers: { authorization: `Bearer ${token}` } }), (e: ConnectError) => e.code === Code.Unauthenticated);
      } finally {
        await stranger.close();
      }
    });

    test("ExchangeToken forwards the authorization code + PKCE exchange to the issuer", async () => {
      const verifier = randomBytes(32).toString("base64url");
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      const q = new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: redirectUri, code_challenge: challenge, code_challenge_method: "S256" });
      const page = await (await fetch(`${issuerUrl}/authorize?${q}`)).text();
      const login = await post("/login", { request: /name="request" value="([^"]+)"/.exec(page)![1], username: user, password });
      const code = new URL(login.location!).searchParams.get("code")!;
      const auth = createClient(AuthService, t.transport);
      const tokens = await auth.exchangeToken({ providerName: "pam", grantType: "authorization_code", clientId, code, codeVerifier: verifier, redirectUri });
      assert.equal(tokens.tokenType, "Bearer");
      await auth.validateToken({}, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
      // The same code again: the issuer refuses, and so does the API.
      await assert.rejects(
        auth.exchangeToken({ providerName: "pam", grantType: "authorization_code", clientId, code, codeVerifier: verifier, redirectUri }),
        (e: ConnectError) => e.code === Code.Unauthenticated && /invalid_grant/.test(e.rawMessage),
      );
      const config = await auth.getAuthConfig({});
      assert.equal(config.providers[0].metadata?.name, "pam");
    });
  });
});
