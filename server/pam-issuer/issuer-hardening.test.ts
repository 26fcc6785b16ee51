// The PAM issuer under attack (bootstrap admin only: no root needed): its own tokens without an expiry, too long-lived,
// from the future or under another algorithm are refused; a refresh token replayed after rotation revokes its whole
// family; 2,000 wrong passwords end in 429s with Retry-After; the lockout treats a user that does not exist exactly
// like one that does; the per-IP limit counts the client a trusted proxy names.
import { assertNoOpenHandles } from "../../test/helpers/leaks.js";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, describe, test } from "node:test";
import { importJWK, SignJWT, type JWK } from "jose";
import pino from "pino";
import { loadConfig, type RateLimitSettings } from "../config.js";
import { createPamIssuer } from "./issuer.js";

const clientId = "flightctl-client";
const admin = { username: "admin", password: "bootstrap-secret" };
const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];

after(async () => {
  for (const c of closers) await c();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await assertNoOpenHandles();
});

interface Started {
  url: string;
  dataDir: string;
  /** Log lines (JSON objects) written so far. */
  logs: Record<string, unknown>[];
  post(path: string, form: Record<string, string>, headers?: Record<string, string>): Promise<Answer>;
}
interface Answer {
  status: number;
  body: Record<string, unknown>;
  retryAfter: string | null;
  ms: number;
}

async function startIssuer(rateLimits: RateLimitSettings = loadConfig({}).rateLimits): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), "fc-pam-hard-"));
  dirs.push(dataDir);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split("\n")) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  let issuer: ReturnType<typeof createPamIssuer> | undefined;
  const server = http.createServer((req, res) => issuer!.handle(req, res));
  // Many parallel requests in the brute-force test: no keep-alive pool limits on the client side (fetch's default).
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/auth`;
  issuer = createPamIssuer({
    issuerUrl: url,
    dataDir,
    clientId,
    redirectUris: ["http://127.0.0.1:7777/callback"],
    bootstrapAdmin: admin,
    authenticator: undefined,
    pamService: "flightctl-none",
    rateLimits,
    log: pino({ level: "info" }, sink),
  });
  closers.push(
    () =>
      new Promise<void>((r) => {
        issuer!.close();
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return {
    url,
    dataDir,
    logs,
    async post(path, form, headers = {}) {
      const started = performance.now();
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        body: new URLSearchParams(form),
      });
      const text = await res.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = { html: text };
      }
      return { status: res.status, body, retryAfter: res.headers.get("retry-after"), ms: performance.now() - started };
    },
  };
}

const passwordGrant = (s: Started, username: string, password: string, headers?: Record<string, string>) =>
  s.post("/token", { grant_type: "password", client_id: clientId, username, password, scope: "openid offline_access" }, headers);
const refresh = (s: Started, token: string) => s.post("/token", { grant_type: "refresh_token", client_id: clientId, refresh_token: token });
const userinfo = async (s: Started, token: string) =>
  (await fetch(`${s.url}/userinfo`, { headers: { authorization: `Bearer ${token}` } })).status;

/** A token signed with the issuer's own key (as an attacker holding a leaked or a badly minted token would have). */
async function ownKeyToken(s: Started, claims: Record<string, unknown>, header: Record<string, unknown> = {}) {
  const jwk = JSON.parse(readFileSync(join(s.dataDir, "pam-issuer", "signing-key.json"), "utf8")) as JWK;
  const key = await importJWK(jwk, "ES256");
  return new SignJWT({ iss: s.url, sub: "admin", preferred_username: "admin", ...claims })
    .setProtectedHeader({ alg: "ES256", typ: "at+jwt", ...header })
    .sign(key);
}

describe("the issuer's own tokens", () => {
  test("without exp, living longer than issued, or with iat/nbf in the future: refused at userinfo and refresh", async () => {
    const s = await startIssuer();
    assert.equal((await passwordGrant(s, admin.username, admin.password)).status, 200); // creates the key
    const now = Math.floor(Date.now() / 1000);
    const access = { aud: clientId, scope: "openid" };
    assert.equal(await userinfo(s, await ownKeyToken(s, { ...access, iat: now, exp: now + 600 })), 200, "control: a good token");
    const bad = {
      "no exp": { ...access, iat: now },
      "no iat": { ...access, exp: now + 600 },
      "a year long": { ...access, iat: now, exp: now + 365 * 86400 },
      "iat in the future": { ...access, iat: now + 3600, exp: now + 3700 },
      "nbf in the future": { ...access, iat: now, nbf: now + 600, exp: now + 900 },
    };
    for (const [why, claims] of Object.entries(bad)) assert.equal(await userinfo(s, await ownKeyToken(s, claims)), 401, why);
    const r = { aud: s.url, typ: "refresh", azp: clientId, jti: "j-1", scope: "openid" };
    for (const [why, claims] of Object.entries({
      "no exp": { ...r, iat: now },
      "longer than the refresh lifetime": { ...r, iat: now, exp: now + 30 * 86400 },
    })) {
      const res = await refresh(s, await ownKeyToken(s, claims, { typ: "JWT" }));
      assert.deepEqual([res.status, res.body.error], [400, "invalid_grant"], why);
    }
  });

  test("another algorithm is refused: HS256 keyed with the public key, and alg none", async () => {
    const s = await startIssuer();
    await passwordGrant(s, admin.username, admin.password);
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: s.url, sub: "admin", aud: clientId, iat: now, exp: now + 600 };
    const pub = (await (await fetch(`${s.url}/jwks`)).json()) as { keys: JWK[] };
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
      .sign(new TextEncoder().encode(JSON.stringify(pub.keys[0])));
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const none = `${b64({ alg: "none", typ: "at+jwt" })}.${b64(claims)}.`;
    assert.equal(await userinfo(s, hs), 401);
    assert.equal(await userinfo(s, none), 401);
  });
});

describe("refresh token families", () => {
  test("a refresh token used twice revokes every token of its login; other logins go on", async () => {
    const s = await startIssuer();
    const login = (await passwordGrant(s, admin.username, admin.password)).body;
    const other = (await passwordGrant(s, admin.username, admin.password)).body;
    const second = await refresh(s, String(login.refresh_token));
    assert.equal(second.status, 200);
    const third = await refresh(s, String(second.body.refresh_token));
    assert.equal(third.status, 200, "rotation goes on while nobody replays");
    // The first token comes back (stolen, or a client bug): its family ends, including the newest token.
    const replay = await refresh(s, String(login.refresh_token));
    assert.deepEqual([replay.status, replay.body.error], [400, "invalid_grant"]);
    const newest = await refresh(s, String(third.body.refresh_token));
    assert.deepEqual([newest.status, newest.body.error], [400, "invalid_grant"], "the newest token of the family is revoked");
    assert.match(String(newest.body.error_description), /revoked/);
    assert.equal((await refresh(s, String(other.refresh_token))).status, 200, "another login's family is untouched");
    const event = s.logs.find((l) => l.event === "refresh_token_reuse");
    assert.ok(event, "logged as a security event");
    assert.deepEqual([event.level, event.username, event.ip], [40, "admin", "127.0.0.1"]);
  });
});

describe("brute force", () => {
  test("2,000 wrong passwords from one address: 429s with Retry-After, the password never checked once locked", async () => {
    const s = await startIssuer();
    const answers: Answer[] = [];
    // 50 at a time, as an attacker with a few connections would.
    for (let i = 0; i < 2000; i += 50) {
      answers.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => passwordGrant(s, admin.username, `guess-${i + j}`)))));
    }
    const by = (status: number) => answers.filter((a) => a.status === status);
    assert.equal(by(400).length, 10, "only the allowed failures are checked, even in parallel");
    assert.ok(by(400).every((a) => a.body.error === "invalid_grant"));
    assert.equal(by(429).length, 1990);
    assert.ok(by(429).every((a) => Number(a.retryAfter) > 0 && a.body.error === "temporarily_unavailable"));
    assert.equal(by(200).length, 0);
    // The right password is refused too while locked: a lockout is no oracle.
    const right = await passwordGrant(s, admin.username, admin.password);
    assert.equal(right.status, 429);
    const lockout = s.logs.filter((l) => l.event === "login_lockout");
    assert.equal(lockout.length, 1);
    assert.deepEqual([lockout[0].level, lockout[0].username, lockout[0].ip], [40, "admin", "127.0.0.1"]);
    assert.equal(s.logs.filter((l) => l.event === "login_failed" && l.level === 40).length, 10);
  });

  test("a user that does not exist is answered like one that does: same errors, same lockout, same timing class", async () => {
    const limits = loadConfig({}).rateLimits;
    const s = await startIssuer({ ...limits, login: { maxFailures: 3, windowSec: 60, lockoutSec: 30, lockoutMaxSec: 300 } });
    const run = async (username: string) => {
      const out: Answer[] = [];
      for (let i = 0; i < 5; i++) out.push(await passwordGrant(s, username, "wrong"));
      return out;
    };
    const [known, unknown] = await Promise.all([run("admin"), run("nosuchuser")]);
    const shape = (a: Answer[]) => a.map((x) => [x.status, x.body.error, x.body.error_description, x.retryAfter]);
    assert.deepEqual(shape(known), shape(unknown));
    assert.deepEqual(
      known.map((a) => a.status),
      [400, 400, 400, 429, 429],
    );
    assert.equal(known[3].retryAfter, "30");
    // Failures are slowed alike (~0.5 s), refusals while locked come at once for both.
    for (const a of [...known.slice(0, 3), ...unknown.slice(0, 3)]) assert.ok(a.ms >= 390, `a failure took only ${a.ms} ms`);
  });

  test("the login form shares the lockout and answers 429 with Retry-After", async () => {
    const limits = loadConfig({}).rateLimits;
    const s = await startIssuer({ ...limits, login: { maxFailures: 2, windowSec: 60, lockoutSec: 10, lockoutMaxSec: 300 } });
    const page = await (
      await fetch(
        `${s.url}/authorize?${new URLSearchParams({
          client_id: clientId,
          redirect_uri: "http://127.0.0.1:7777/callback",
          response_type: "code",
          code_challenge: "x".repeat(43),
          code_challenge_method: "S256",
        })}`,
      )
    ).text();
    const request = /name="request" value="([^"]+)"/.exec(page)![1];
    const statuses: (number | string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const a = await s.post("/login", { request, username: "carol", password: "wrong" });
      statuses.push(a.status, a.retryAfter);
    }
    assert.deepEqual(statuses, [401, null, 401, null, 429, "10"]);
    assert.equal((await passwordGrant(s, "carol", "wrong")).status, 429, "the password grant sees the same lockout");
  });
});

describe("per-IP limit", () => {
  test("the token endpoint counts per client; a trusted proxy's X-Forwarded-For names the client", async () => {
    const limits = loadConfig({}).rateLimits;
    // Loopback is a trusted proxy of the issuer (the API forwards the web UI's token exchanges from there).
    const s = await startIssuer({ ...limits, authPerIp: { points: 5, durationSec: 60 } });
    const from = (ip: string) => passwordGrant(s, admin.username, admin.password, { "x-forwarded-for": `198.51.100.1, ${ip}` });
    const a = [];
    for (let i = 0; i < 6; i++) a.push(await from("203.0.113.7"));
    assert.deepEqual(
      a.map((x) => x.status),
      [200, 200, 200, 200, 200, 429],
    );
    assert.ok(Number(a[5].retryAfter) > 0 && Number(a[5].retryAfter) <= 60);
    assert.equal((await from("203.0.113.8")).status, 200, "another client behind the same proxy has its own count");
    // Forwarded (RFC 7239) is read too, and preferred: the same client by either header.
    const viaForwarded = (v: string) => passwordGrant(s, admin.username, admin.password, { forwarded: v, "x-forwarded-for": "192.0.2.9" });
    assert.equal((await viaForwarded("for=203.0.113.7;proto=https")).status, 429);
    assert.equal((await viaForwarded('for="[2001:db8::1]:4711"')).status, 200);
  });
});
