// The limiter, the login lockout and client-address resolution, without servers.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { clientIp, trustedProxies } from "./client-ip.js";
import { createLimiter, createLoginThrottle } from "./rate-limit.js";

describe("createLimiter", () => {
  test("allows `points` per window per key, then says how long to wait", async () => {
    const l = createLimiter({ points: 3, durationSec: 60 });
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await l.take("a"));
    assert.deepEqual(got.slice(0, 3), [undefined, undefined, undefined]);
    assert.ok(got[3]! > 59_000 && got[3]! <= 60_000);
    assert.equal(await l.take("b"), undefined, "keys are counted apart");
    assert.equal(await createLimiter(undefined).take("a"), undefined, "no limit: everything passes");
  });
});

describe("createLoginThrottle", () => {
  test("locks a name out after the allowed failures; each further lockout doubles, up to the maximum", async () => {
    const t = createLoginThrottle({ maxFailures: 2, windowSec: 1, lockoutSec: 1, lockoutMaxSec: 2 });
    assert.equal(await t.attempt("x"), undefined);
    assert.equal(await t.attempt("x"), undefined);
    assert.deepEqual(await t.attempt("x"), { ms: 1000, started: true });
    const during = await t.attempt("x");
    assert.ok(during && !during.started && during.ms <= 1000);
    await new Promise((r) => setTimeout(r, 1100));
    await t.attempt("x");
    await t.attempt("x");
    assert.deepEqual(await t.attempt("x"), { ms: 2000, started: true }, "the second lockout is twice as long");
    await new Promise((r) => setTimeout(r, 2100));
    await t.attempt("x");
    await t.attempt("x");
    assert.deepEqual(await t.attempt("x"), { ms: 2000, started: true }, "capped");
  });

  test("a success clears the failures", async () => {
    const t = createLoginThrottle({ maxFailures: 2, windowSec: 60, lockoutSec: 60, lockoutMaxSec: 60 });
    await t.attempt("y");
    await t.attempt("y");
    await t.succeeded("y");
    assert.equal(await t.attempt("y"), undefined);
  });
});

describe("clientIp", () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name];
  const trusted = trustedProxies(["10.0.0.0/8", "fd00::/8"]);

  test("an untrusted peer is the client, whatever it claims", () => {
    assert.equal(clientIp("203.0.113.5", headers({ "x-forwarded-for": "1.2.3.4" }), trusted), "203.0.113.5");
    assert.equal(clientIp("::ffff:203.0.113.5", headers({}), trusted), "203.0.113.5", "IPv4-mapped IPv6 is the IPv4 address");
    assert.equal(clientIp("10.0.0.1", headers({ "x-forwarded-for": "1.2.3.4" }), trustedProxies([])), "10.0.0.1", "no proxies configured");
  });

  test("behind trusted proxies: the nearest address that is not one of them (left entries may be forged)", () => {
    const xff = (v: string) => headers({ "x-forwarded-for": v });
    assert.equal(clientIp("10.0.0.1", xff("198.51.100.7"), trusted), "198.51.100.7");
    assert.equal(clientIp("10.0.0.1", xff("6.6.6.6, 198.51.100.7, 10.1.1.1"), trusted), "198.51.100.7");
    assert.equal(clientIp("fd00::1", xff("10.2.2.2, 10.1.1.1"), trusted), "10.2.2.2", "all trusted: the farthest");
    assert.equal(clientIp("10.0.0.1", xff("198.51.100.7:5555"), trusted), "198.51.100.7", "a port is dropped");
    assert.equal(clientIp("10.0.0.1", headers({}), trusted), "10.0.0.1", "no header: the proxy itself");
  });

  test("Forwarded (RFC 7239) wins over X-Forwarded-For", () => {
    const h = headers({ forwarded: 'for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https', "x-forwarded-for": "9.9.9.9" });
    assert.equal(clientIp("10.0.0.1", h, trusted), "2001:db8:cafe::17");
  });

  test("bad CIDRs are refused", () => {
    assert.throws(() => trustedProxies(["10.0.0.0/33"]), /10.0.0.0\/33/);
    assert.throws(() => trustedProxies(["proxy.example"]), /not an IP address or CIDR/);
  });
});
