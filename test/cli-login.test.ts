// flightctl login against the built-in PAM issuer (as `npm start` runs it): the password grant, the browser's
// authorization-code + PKCE flow (this test plays the browser), transparent refresh of an expiring token, logout.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readFileSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { parse, stringify } from "yaml";
import pino from "pino";
import { startApi, type RunningApi } from "../server/main/api.js";
import { startPamIssuer } from "../server/pam-issuer/issuer.js";
import { oidcProvider } from "../server/auth/oidc-provider.js";
import { ensurePki } from "../server/platform/pki/ca.js";
import { createTestDatabase, type TestDatabase } from "./helpers/db.js";
import { BIN, buildCli, runCli } from "./helpers/cli.js";

const PASSWORD = "s3cret-admin-pw";
let db: TestDatabase;
let dataDir: string;
let api: RunningApi;
let issuer: Awaited<ReturnType<typeof startPamIssuer>>;
let server: string;
let ca: string;

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });

before(async () => {
  buildCli();
  db = await createTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), "fc-cli-login-"));
  chmodSync(dataDir, 0o755);
  const pki = await ensurePki(dataDir);
  const port = await freePort();
  const issuerUrl = `https://localhost:${port}/api/v1/auth`;
  const log = pino({ level: "silent" });
  issuer = await startPamIssuer({
    issuerUrl,
    dataDir,
    clientId: "flightctl-client",
    redirectUris: ["http://127.0.0.1:7777/callback"],
    bootstrapAdmin: { username: "admin", password: PASSWORD },
    address: `127.0.0.1:${port}`,
    tls: { key: pki.userServer.keyPem, cert: pki.userServer.certPem },
    accessTokenTtl: 3600,
    log,
  });
  api = await startApi({
    databaseUrl: db.url,
    dataDir,
    address: "127.0.0.1:0",
    agentAddress: "127.0.0.1:0",
    authProviders: [oidcProvider("pam", issuerUrl, "flightctl-client", "Local users (PAM)")],
    log,
  });
  server = `https://localhost:${api.port}`;
  ca = api.caPath;
});
after(async () => {
  await api.close();
  await issuer.close();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
  await assertNoOpenHandles();
});

const newConfigDir = () => mkdtempSync(join(dataDir, "cfg-"));

test("password grant (-u/-p) against the built-in issuer; commands then work; logout forgets", async () => {
  const cfg = newConfigDir();
  let r = await runCli(cfg, ["login", server, "--certificate-authority", ca, "-u", "admin", "-p", PASSWORD]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Login successful as admin/);
  const stored = parse(readFileSync(join(cfg, "client.yaml"), "utf8"));
  assert.equal(stored.authentication["auth-provider"].name, "pam");
  assert.ok(stored.authentication["auth-provider"].config["refresh-token"]);
  r = await runCli(cfg, ["get", "devices"]);
  assert.equal(r.code, 0, r.stderr);
  r = await runCli(cfg, ["logout"]);
  assert.equal(r.code, 0);
  r = await runCli(cfg, ["get", "devices"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /flightctl login/);
});

test("a wrong password is refused with a clear message and exit code 1", async () => {
  const r = await runCli(newConfigDir(), ["login", server, "--certificate-authority", ca, "-u", "admin", "-p", "nope"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /login refused: invalid_grant.*Check the user name and password/);
});

test("without the CA: a TLS error that says to pass --certificate-authority", async () => {
  const r = await runCli(newConfigDir(), ["login", server, "-u", "admin", "-p", PASSWORD]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--certificate-authority/);
});

/** GET/POST over https trusting the test CA; no redirects followed. */
function fetchTls(url: string, form?: Record<string, string>): Promise<{ status: number; location?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const body = form ? new URLSearchParams(form).toString() : undefined;
    const req = https.request(
      url,
      { method: form ? "POST" : "GET", ca: readFileSync(ca), headers: body ? { "content-type": "application/x-www-form-urlencoded" } : {} },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

test("browser login: authorization code + PKCE through a loopback redirect (--no-browser prints the URL)", async () => {
  const cfg = newConfigDir();
  const child = spawn(process.execPath, [BIN, "login", server, "--certificate-authority", ca, "--no-browser"], {
    env: { ...process.env, FLIGHTCTL_CONFIG_DIR: cfg },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
      const m = /(https:\/\/\S+\/authorize\?\S+)/.exec(stderr);
      if (m) resolve(m[1]);
    });
    child.on("close", () => reject(new Error(`login exited early: ${stderr}`)));
  });
  const done = new Promise<number | null>((r) => child.on("close", r));
  const authorize = new URL(url);
  assert.equal(authorize.searchParams.get("code_challenge_method"), "S256");
  // The "browser": open the login form, post the credentials, follow the redirect to the CLI's listener.
  const form = await fetchTls(url);
  assert.equal(form.status, 200);
  const request = /name="request" value="([^"]+)"/.exec(form.body)![1];
  const loginUrl = new URL("login", url.replace(/authorize\?.*$/, "")).href;
  const posted = await fetchTls(loginUrl, { request, username: "admin", password: PASSWORD });
  assert.equal(posted.status, 302, posted.body);
  assert.match(posted.location!, /^http:\/\/127\.0\.0\.1:\d+\/callback\?code=/);
  const back = await fetch(posted.location!);
  assert.match(await back.text(), /Login successful/);
  assert.equal(await done, 0, stderr);
  assert.match(stdout, /Login successful as admin/);
  const r = await runCli(cfg, ["get", "devices", "-o", "name"]);
  assert.equal(r.code, 0, r.stderr);
});

test("an expiring access token is refreshed transparently (and the new one stored)", async () => {
  const cfg = newConfigDir();
  assert.equal((await runCli(cfg, ["login", server, "--certificate-authority", ca, "-u", "admin", "-p", PASSWORD])).code, 0);
  const path = join(cfg, "client.yaml");
  const stored = parse(readFileSync(path, "utf8"));
  const before = stored.authentication["auth-provider"].config;
  before["expires-at"] = String(Math.floor(Date.now() / 1000) - 10);
  writeFileSync(path, stringify(stored));
  const r = await runCli(cfg, ["get", "devices"]);
  assert.equal(r.code, 0, r.stderr);
  const after = parse(readFileSync(path, "utf8")).authentication["auth-provider"].config;
  assert.notEqual(after["refresh-token"], before["refresh-token"], "refresh tokens rotate");
  assert.ok(Number(after["expires-at"]) > Date.now() / 1000 + 600);
});

test("--show-providers lists the server's providers", async () => {
  const r = await runCli(newConfigDir(), ["login", server, "--certificate-authority", ca, "--show-providers"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /pam\s+oidc\s+Local users \(PAM\)/);
});
