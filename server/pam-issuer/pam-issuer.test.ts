// The built-in PAM issuer over plain HTTP on loopback. Without root: discovery, the bootstrap admin through every
// flow (password, authorization code + PKCE, refresh rotation), userinfo, and the group mapping. As root (CI): a
// real Linux user, real groups and a PAM service file created by the test (unique names, removed afterwards):
// password grant, the login form, refresh picking up group changes and refusing locked or deleted users. With a
// test database (npm test): the API trusting the issuer's tokens.
import { assertNoOpenHandles } from "../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from "jose";
import pino from "pino";
import { createPamIssuer, startPamIssuer, type PamIssuer } from "./issuer.js";
import { loadPam } from "./pam.js";
import { rolesAndOrganizations } from "./users.js";
import { clientPolicy } from "./clients.js";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { oidcProvider } from "../auth/oidc-provider.js";
import { AuthService } from "../../gen/flightctl/v1beta1/auth_service_pb.js";
import { DeviceService } from "../../gen/flightctl/v1beta1/device_service_pb.js";
import { startTestApp, type TestApp } from "../../test/helpers/app.js";
import { startTestIssuer } from "../../test/helpers/oidc.js";

const isRoot = process.getuid?.() === 0;
const pamSkip = !isRoot
  ? "needs root to create a Linux user, groups and a PAM service"
  : !loadPam()
    ? "authenticate-pam is not built here"
    : false;

const suffix = randomBytes(3).toString("hex");
const user = `fcpam${suffix}`;
const goner = `fcgone${suffix}`;
const password = `pw-${randomBytes(8).toString("hex")}`;
const extraGroup = `fcextra${suffix}`;
const groups = ["flightctl-operator", "org-eng", "eng.flightctl-viewer", extraGroup];
// A service of our own, so the test neither depends on nor touches the host's /etc/pam.d/flightctl or login.
const pamService = `flightctl-test-${suffix}`;
const pamFile = `/etc/pam.d/${pamService}`;
const createdGroups: string[] = [];
const clientId = "flightctl-client";
const redirectUri = "http://127.0.0.1:7777/callback";
const admin = { username: "admin", password: "bootstrap-secret" };

let dataDir: string;
let server: http.Server;
let issuerUrl: string;
let issuer: PamIssuer;

const sh = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, stdio: ["pipe", "pipe", "pipe"] }).toString();
const quiet = (fn: () => unknown) => {
  try {
    fn();
  } catch {
    // already gone
  }
};

let cleaned = false;
function cleanupHost() {
  if (cleaned || pamSkip) return;
  cleaned = true;
  quiet(() => sh("userdel", [user]));
  quiet(() => sh("userdel", [goner]));
  for (const g of createdGroups) quiet(() => sh("groupdel", [g]));
  quiet(() => rmSync(pamFile, { force: true }));
}
// Even when the run is interrupted between before() and after().
process.once("exit", cleanupHost);

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "fc-pam-"));
  if (!pamSkip) {
    writeFileSync(pamFile, "@include common-auth\n@include common-account\n", { flag: "wx", mode: 0o644 });
    for (const g of groups) {
      try {
        sh("getent", ["group", g]);
      } catch {
        sh("groupadd", [g]);
        createdGroups.push(g);
      }
    }
    // Primary group flightctl-operator: `id -Gn` lists the primary group too, and flightctl maps it like the others.
    sh("useradd", [
      "-M",
      "-N",
      "-g",
      "flightctl-operator",
      "-G",
      "org-eng,eng.flightctl-viewer",
      "-s",
      "/usr/sbin/nologin",
      "-c",
      "Pam Tester,,,,pam.tester@example.com",
      user,
    ]);
    sh("useradd", ["-M", "-N", "-s", "/usr/sbin/nologin", goner]);
    sh("chpasswd", [], `${user}:${password}\n${goner}:${password}\n`);
  }
  server = http.createServer((req, res) => issuer.handle(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  issuerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/auth`;
  issuer = createPamIssuer({
    issuerUrl,
    dataDir,
    clientId,
    redirectUris: [redirectUri],
    pamService,
    bootstrapAdmin: admin,
    log: pino({ level: "silent" }),
  });
});

after(async () => {
  issuer?.close();
  if (server) await new Promise<void>((r) => server.close(() => r()));
  cleanupHost();
  rmSync(dataDir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

type Json = Record<string, string>;
async function post(path: string, form: Record<string, string>, base = issuerUrl) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
    redirect: "manual",
  });
  const text = await res.text();
  return { status: res.status, location: res.headers.get("location"), text, json: () => JSON.parse(text) as Json };
}
const passwordGrant = (username: string, pass: string) =>
  post("/token", { grant_type: "password", client_id: clientId, username, password: pass });
const userinfo = async (token: string) => {
  const res = await fetch(`${issuerUrl}/userinfo`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const verify = (token: string) =>
  jwtVerify(token, createRemoteJWKSet(new URL(`${issuerUrl}/jwks`)), { issuer: issuerUrl, audience: clientId });

const pkce = () => {
  const verifier = randomBytes(32).toString("base64url");
  return { verifier, challenge: createHash("sha256").update(verifier).digest("base64url") };
};
const authorizeUrl = (challenge: string, extra: Record<string, string> = {}) =>
  `${issuerUrl}/authorize?${new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: redirectUri, state: "st-1", nonce: "n-1", code_challenge: challenge, code_challenge_method: "S256", scope: "openid roles offline_access", ...extra })}`;
const requestId = (html: string) => /name="request" value="([^"]+)"/.exec(html)![1];

/** /authorize → POST /login → the code from the redirect. */
async function loginForCode(username: string, pass: string, challenge: string): Promise<string> {
  const page = await fetch(authorizeUrl(challenge));
  assert.equal(page.status, 200);
  const ok = await post("/login", { request: requestId(await page.text()), username, password: pass });
  assert.equal(ok.status, 302, ok.text);
  const back = new URL(ok.location!);
  assert.equal(back.searchParams.get("state"), "st-1");
  return back.searchParams.get("code")!;
}
const redeem = (code: string, verifier?: string) =>
  post("/token", {
    grant_type: "authorization_code",
    client_id: clientId,
    code,
    redirect_uri: redirectUri,
    ...(verifier ? { code_verifier: verifier } : {}),
  });

describe("PAM issuer (no root needed)", () => {
  test("flightctl's group mapping", () => {
    assert.deepEqual(rolesAndOrganizations(["flightctl-admin", "org-eng", "eng.flightctl-operator", "org-ops", "a.b.c"]), {
      roles: ["flightctl-admin", "eng:flightctl-operator", "a:b.c"],
      organizations: ["eng", "ops"],
    });
    assert.deepEqual(rolesAndOrganizations(["users"]).organizations, ["default"]);
  });

  test("redirect URIs: exact, or loopback on any port with the same path (RFC 8252)", () => {
    const p = clientPolicy(clientId, undefined, [redirectUri, "https://ui.example.com/callback"]);
    assert.ok(p.redirectAllowed("http://localhost:40123/callback"));
    assert.ok(p.redirectAllowed("http://127.0.0.1:7777/callback"));
    assert.ok(!p.redirectAllowed("http://127.0.0.1:7777/other"));
    assert.ok(!p.redirectAllowed("https://ui.example.com:8443/callback"));
    assert.ok(!p.redirectAllowed("http://evil.example/callback"));
    assert.ok(p.postLogoutAllowed("https://ui.example.com") && !p.postLogoutAllowed("https://evil.example"));
  });

  test("discovery names every endpoint under the issuer URL; the JWKS key's kid is its thumbprint", async () => {
    const doc = (await (await fetch(`${issuerUrl}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    assert.equal(doc.issuer, issuerUrl);
    for (const [k, p] of Object.entries({
      authorization_endpoint: "authorize",
      token_endpoint: "token",
      userinfo_endpoint: "userinfo",
      jwks_uri: "jwks",
      end_session_endpoint: "logout",
    })) {
      assert.equal(doc[k], `${issuerUrl}/${p}`);
    }
    assert.deepEqual(doc.grant_types_supported, ["authorization_code", "refresh_token", "password"]);
    assert.deepEqual(doc.code_challenge_methods_supported, ["S256"]);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ["ES256"]);
    const { keys } = (await (await fetch(`${issuerUrl}/jwks`)).json()) as { keys: Record<string, string>[] };
    assert.equal(keys.length, 1);
    assert.equal(keys[0].d, undefined, "no private part");
    assert.equal(statSync(join(dataDir, "pam-issuer", "signing-key.json")).mode & 0o777, 0o600);
  });

  test("bootstrap admin: password grant, then userinfo; a wrong password is 400 invalid_grant (RFC 6749 §5.2)", async () => {
    const res = await passwordGrant(admin.username, admin.password);
    assert.equal(res.status, 200, res.text);
    const { payload } = await verify(res.json().access_token);
    assert.deepEqual([payload.sub, payload.roles, payload.organizations], ["admin", ["flightctl-admin"], ["default"]]);
    const info = await userinfo(res.json().access_token);
    assert.equal(info.status, 200);
    assert.deepEqual(info.body.roles, ["flightctl-admin"]);
    const bad = await passwordGrant(admin.username, "wrong");
    assert.deepEqual([bad.status, bad.json().error], [400, "invalid_grant"]);
    assert.equal((await passwordGrant("no such user", "x")).status, 400);
  });

  test("authorization code + PKCE: wrong or missing verifier refused, codes single-use, nonce in the ID token", async () => {
    const { verifier, challenge } = pkce();
    const page = await (await fetch(authorizeUrl(challenge))).text();
    assert.match(page, /<label for="username">/);
    assert.match(page, /<label for="password">/);
    assert.doesNotMatch(page, /<script/);
    const bad = await post("/login", { request: requestId(page), username: admin.username, password: "wrong" });
    assert.equal(bad.status, 401);
    assert.match(bad.text, /Wrong user name or password/);

    const c1 = await loginForCode(admin.username, admin.password, challenge);
    assert.deepEqual(
      [(await redeem(c1, "x".repeat(43))).json().error, (await redeem(c1, verifier)).json().error],
      ["invalid_grant", "invalid_grant"],
      "a failed exchange uses the code up",
    );
    const c2 = await loginForCode(admin.username, admin.password, challenge);
    assert.equal((await redeem(c2)).status, 400, "no verifier");
    const c3 = await loginForCode(admin.username, admin.password, challenge);
    const ok = await redeem(c3, verifier);
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await verify(ok.json().id_token)).payload.nonce, "n-1");
    assert.equal((await redeem(c3, verifier)).json().error, "invalid_grant", "reuse");
  });

  test("authorize refuses unknown clients and redirect URIs on its own page, PKCE-less requests at the redirect URI", async () => {
    const { challenge } = pkce();
    assert.equal((await fetch(authorizeUrl(challenge, { redirect_uri: "https://evil.example/cb" }), { redirect: "manual" })).status, 400);
    assert.equal((await fetch(authorizeUrl(challenge, { client_id: "other" }), { redirect: "manual" })).status, 400);
    const noPkce = await fetch(authorizeUrl(challenge, { code_challenge: "" }).replace(/&code_challenge=&/, "&"), { redirect: "manual" });
    assert.equal(noPkce.status, 302);
    assert.equal(new URL(noPkce.headers.get("location")!).searchParams.get("error"), "invalid_request");
    assert.equal(
      (await fetch(authorizeUrl(challenge, { redirect_uri: "http://localhost:51234/callback" }))).status,
      200,
      "loopback, other port",
    );
  });

  test("refresh tokens rotate: each works once and is never a bearer token", async () => {
    const first = (await passwordGrant(admin.username, admin.password)).json();
    assert.equal(decodeJwt(first.refresh_token).typ, "refresh");
    const second = await post("/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: first.refresh_token });
    assert.equal(second.status, 200, second.text);
    assert.notEqual(second.json().refresh_token, first.refresh_token);
    const replay = await post("/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: first.refresh_token });
    assert.equal(replay.json().error, "invalid_grant");
    assert.equal((await userinfo(second.json().refresh_token)).status, 401);
    await assert.rejects(verify(second.json().refresh_token), "aud is the issuer, not the client");
  });

  test("userinfo refuses a token signed by another key, even with our kid", async () => {
    const { keys } = (await (await fetch(`${issuerUrl}/jwks`)).json()) as { keys: { kid: string }[] };
    const { privateKey } = await generateKeyPair("ES256");
    const forged = await new SignJWT({ preferred_username: "admin", roles: ["flightctl-admin"] })
      .setProtectedHeader({ alg: "ES256", kid: keys[0].kid, typ: "at+jwt" })
      .setIssuer(issuerUrl)
      .setSubject("admin")
      .setAudience(clientId)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(privateKey);
    const res = await userinfo(forged);
    assert.deepEqual([res.status, res.body.error], [401, "invalid_token"]);
  });

  test("logout redirects only to registered URIs", async () => {
    const ok = await fetch(`${issuerUrl}/logout?${new URLSearchParams({ post_logout_redirect_uri: redirectUri, state: "s" })}`, {
      redirect: "manual",
    });
    assert.equal(ok.headers.get("location"), `${redirectUri}?state=s`);
    assert.equal((await fetch(`${issuerUrl}/logout?post_logout_redirect_uri=https://evil.example/`, { redirect: "manual" })).status, 400);
  });

  test("a confidential client must authenticate; startPamIssuer listens and closes", async () => {
    const started = await startPamIssuer({
      issuerUrl: "http://127.0.0.1/x",
      address: "127.0.0.1:0",
      dataDir,
      redirectUris: [],
      clientSecret: "s3cret",
      bootstrapAdmin: admin,
      log: pino({ level: "silent" }),
    });
    try {
      const base = `http://127.0.0.1:${started.port}/x`;
      const form = { grant_type: "password", client_id: clientId, ...admin };
      assert.equal((await post("/token", form, base)).json().error, "invalid_client");
      assert.equal((await post("/token", { ...form, client_secret: "s3cret" }, base)).status, 200);
    } finally {
      await started.close();
    }
  });
});

describe("PAM issuer with a real Linux user", { skip: pamSkip }, () => {
  test("the right password gives tokens that verify against the JWKS, with roles and organizations from groups", async () => {
    assert.ok(existsSync(pamFile));
    const res = await passwordGrant(user, password);
    assert.equal(res.status, 200, res.text);
    const { payload } = await verify(res.json().access_token);
    assert.equal(payload.iss, issuerUrl);
    assert.equal(payload.sub, user);
    assert.equal(payload.name, "Pam Tester");
    assert.equal(payload.email, "pam.tester@example.com");
    assert.deepEqual(payload.roles, ["flightctl-operator", "eng:flightctl-viewer"]);
    assert.deepEqual(payload.organizations, ["eng"]);
    assert.equal(payload.exp! - payload.iat!, 3600);
  });

  test("a wrong password is 400 invalid_grant", async () => {
    const res = await passwordGrant(user, "wrong");
    assert.deepEqual([res.status, res.json().error], [400, "invalid_grant"]);
  });

  test("the login form authenticates through PAM", async () => {
    const { verifier, challenge } = pkce();
    const tokens = await redeem(await loginForCode(user, password, challenge), verifier);
    assert.equal(tokens.status, 200, tokens.text);
    assert.equal((await verify(tokens.json().id_token)).payload.preferred_username, user);
  });

  test("refresh re-reads groups; locked and deleted users cannot refresh", async () => {
    const first = (await passwordGrant(user, password)).json();
    sh("usermod", ["-a", "-G", extraGroup, user]);
    const refreshed = await post("/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: first.refresh_token });
    assert.equal(refreshed.status, 200, refreshed.text);
    assert.ok((decodeJwt(refreshed.json().access_token).roles as string[]).includes(extraGroup));
    const info = await userinfo(refreshed.json().access_token);
    assert.deepEqual([info.body.sub, info.body.preferred_username, info.body.organizations], [user, user, ["eng"]]);

    sh("usermod", ["-L", user]);
    try {
      const locked = await post("/token", {
        grant_type: "refresh_token",
        client_id: clientId,
        refresh_token: refreshed.json().refresh_token,
      });
      assert.equal(locked.json().error, "invalid_grant");
    } finally {
      sh("usermod", ["-U", user]);
    }

    const gone = (await passwordGrant(goner, password)).json();
    assert.ok(gone.refresh_token);
    sh("userdel", [goner]);
    const res = await post("/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: gone.refresh_token });
    assert.deepEqual([res.status, res.json().error], [400, "invalid_grant"]);
  });
});

const apiSkip = pamSkip || (!process.env.FC_TEST_DATABASE_URL && "needs the test database: run through npm test");
describe("the API trusting the issuer", { skip: apiSkip }, () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ realAuth: true, staticAuthProviders: [oidcProvider("pam", issuerUrl, clientId)] });
  });
  after(() => t?.close());

  test("a PAM user's token works on the API with the roles its groups give", async () => {
    const headers = { authorization: `Bearer ${(await passwordGrant(user, password)).json().access_token}` };
    const devices = createClient(DeviceService, t.transport);
    // Operator globally, member of organization "eng": may create devices there.
    await devices.createDevice(
      { device: { apiVersion: "v1beta1", kind: "Device", metadata: { name: "pam-made" }, spec: {} } },
      { headers },
    );
    assert.equal((await devices.listDevices({}, { headers })).items.length, 1);
    const info = await createClient(AuthService, t.transport).getUserInfo({}, { headers });
    assert.equal(info.preferredUsername, user);
    assert.deepEqual(
      info.organizations.map((o) => o.spec?.externalId),
      ["eng"],
    );
  });

  test("the API refuses the issuer's refresh tokens and tokens of an issuer it does not trust", async () => {
    const devices = createClient(DeviceService, t.transport);
    const unauthenticated = (e: ConnectError) => e.code === Code.Unauthenticated;
    const refresh = (await passwordGrant(user, password)).json().refresh_token;
    await assert.rejects(devices.listDevices({}, { headers: { authorization: `Bearer ${refresh}` } }), unauthenticated);
    const stranger = await startTestIssuer(clientId);
    try {
      const token = await stranger.token(user, { roles: ["flightctl-admin"] });
      await assert.rejects(devices.listDevices({}, { headers: { authorization: `Bearer ${token}` } }), unauthenticated);
    } finally {
      await stranger.close();
    }
  });

  test("ExchangeToken forwards the authorization code + PKCE exchange to the issuer", async () => {
    const { verifier, challenge } = pkce();
    const code = await loginForCode(user, password, challenge);
    const auth = createClient(AuthService, t.transport);
    const req = { providerName: "pam", grantType: "authorization_code", clientId, code, codeVerifier: verifier, redirectUri };
    const tokens = await auth.exchangeToken(req);
    assert.equal(tokens.tokenType, "Bearer");
    await auth.validateToken({}, { headers: { authorization: `Bearer ${tokens.accessToken}` } });
    await assert.rejects(
      auth.exchangeToken(req),
      (e: ConnectError) => e.code === Code.Unauthenticated && /invalid_grant/.test(e.rawMessage),
    );
  });
});
