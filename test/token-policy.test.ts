// Bearer tokens on the OIDC and OAuth2-JWT paths (the test OIDC issuer: discovery + JWKS over HTTP): refused without
// exp, when living longer than allowed, with iat or nbf in the future beyond the clock skew, or signed with another
// algorithm (HS256 keyed with the public key, "none", a key the JWKS does not hold, one the configuration excludes).
// Then the same through the API: a token without exp lists nothing.
import { assertNoOpenHandles } from "./helpers/leaks.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, type ConnectError, createClient } from "@connectrpc/connect";
import { generateKeyPair, SignJWT } from "jose";
import { AuthProviderSchema, type AuthProvider } from "../gen/flightctl/v1beta1/authprovider_pb.js";
import { DeviceService } from "../gen/flightctl/v1beta1/device_service_pb.js";
import { createAuthenticator } from "../server/auth/authenticator.js";
import { DEFAULT_TOKEN_POLICY, type TokenPolicy } from "../server/auth/token-policy.js";
import { DomainError } from "../server/platform/errors.js";
import { startTestIssuer, type TestIssuer } from "./helpers/oidc.js";
import { startTestApp, type TestApp } from "./helpers/app.js";

let oidc: TestIssuer;
let oauth2: TestIssuer;

before(async () => {
  oidc = await startTestIssuer("oidc-client");
  oauth2 = await startTestIssuer("oauth2-client");
});

after(async () => {
  await oidc.close();
  await oauth2.close();
  await assertNoOpenHandles();
});

const oauth2Provider = (): AuthProvider =>
  create(AuthProviderSchema, {
    apiVersion: "flightctl.io/v1beta1",
    kind: "AuthProvider",
    metadata: { name: "jwt-oauth2" },
    spec: {
      providerType: "oauth2",
      clientId: oauth2.clientId,
      enabled: true,
      usernameClaim: ["preferred_username"],
      introspection: { type: "jwt", jwksUrl: `${oauth2.url}/jwks`, issuer: oauth2.url, audience: [oauth2.clientId] },
      roleAssignment: { type: "dynamic", claimPath: ["roles"] },
      organizationAssignment: { type: "dynamic", claimPath: ["organizations"] },
    },
  });

const authenticator = (policy?: TokenPolicy) =>
  createAuthenticator({ providers: async () => [oidc.provider(), oauth2Provider()], fetch: globalThis.fetch as never, policy });

/** "ok", or the refusal's kind and message. */
async function outcome(a: ReturnType<typeof authenticator>, token: string): Promise<string> {
  try {
    await a.authenticate(`Bearer ${token}`);
    return "ok";
  } catch (e) {
    assert.ok(e instanceof DomainError, String(e));
    return `${e.kind}: ${e.message}`;
  }
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

for (const [path, issuer] of [
  ["OIDC", () => oidc],
  ["OAuth2 JWT", () => oauth2],
] as const) {
  describe(`${path} tokens`, () => {
    test("a well-formed token is accepted (the control)", async () => {
      assert.equal(await outcome(authenticator(), await issuer().token("alice")), "ok");
    });

    test("no exp, too long a lifetime, iat or nbf in the future: Unauthenticated naming the claim", async () => {
      const a = authenticator();
      const i = issuer();
      const cases: [string, Promise<string>, RegExp][] = [
        ["no exp", i.token("bob", {}, { exp: false }), /"exp" claim/],
        ["a year long", i.token("bob", {}, { expiresIn: 365 * 86400 }), /longer than the 86400 s allowed/],
        ["no iat, expiring beyond the maximum", i.token("bob", {}, { iat: false, expiresIn: 2 * 86400 }), /longer than/],
        ["iat an hour ahead", i.token("bob", {}, { iat: 3600, expiresIn: 3700 }), /"iat" is in the future/],
        ["nbf ten minutes ahead", i.token("bob", {}, { nbf: 600, expiresIn: 900 }), /"nbf"/],
      ];
      for (const [why, token, message] of cases) {
        const got = await outcome(a, await token);
        assert.match(got, /^unauthenticated: invalid token: /, why);
        assert.match(got, message, why);
      }
      assert.equal(await outcome(a, await i.token("bob", {}, { iat: 20, nbf: 20 })), "ok", "within the clock skew (30 s)");
    });

    test("HS256 keyed with the public key, alg none, and a key the JWKS does not hold are refused", async () => {
      const a = authenticator();
      const i = issuer();
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: i.url, sub: "x", aud: i.clientId, preferred_username: "mallory", iat: now, exp: now + 600 };
      const jwks = (await (await fetch(`${i.url}/jwks`)).json()) as { keys: unknown[] };
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: "test-1" })
        .sign(new TextEncoder().encode(JSON.stringify(jwks.keys[0])));
      const none = `${b64({ alg: "none", kid: "test-1" })}.${b64(claims)}.`;
      const { privateKey } = await generateKeyPair("RS256");
      const rs = await new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: "test-1" }).sign(privateKey);
      for (const [why, token] of [
        ["HS256", hs],
        ["none", none],
        ["RS256 from another key", rs],
      ]) {
        assert.match(await outcome(a, token), /^unauthenticated: invalid token/, why);
      }
    });

    test("algorithms are pinned by the configuration: ES256 refused when only RS256 is allowed", async () => {
      const a = authenticator({ ...DEFAULT_TOKEN_POLICY, algorithms: ["RS256", "HS256"] });
      assert.match(await outcome(a, await issuer().token("carol")), /^unauthenticated: invalid token/);
    });
  });
}

test("a shorter maximum lifetime is configurable", async () => {
  const a = authenticator({ ...DEFAULT_TOKEN_POLICY, maxLifetimeSec: 300 });
  assert.match(await outcome(a, await oidc.token("dave", {}, { expiresIn: 600 })), /longer than the 300 s allowed/);
  assert.equal(await outcome(a, await oidc.token("dave", {}, { expiresIn: 200 })), "ok");
});

test("an OIDC provider is pinned to the algorithms its discovery document advertises", async () => {
  const rsOnly = await startTestIssuer("rs-only", { id_token_signing_alg_values_supported: ["RS256", "none", "HS256"] });
  const esToo = await startTestIssuer("es-too", { id_token_signing_alg_values_supported: ["RS256", "ES256"] });
  try {
    const a = createAuthenticator({
      providers: async () => [rsOnly.provider("rs"), esToo.provider("es")],
      fetch: globalThis.fetch as never,
    });
    assert.match(await outcome(a, await rsOnly.token("erin")), /^unauthenticated: invalid token/, "ES256 is not what it signs with");
    assert.equal(await outcome(a, await esToo.token("erin")), "ok");
  } finally {
    await rsOnly.close();
    await esToo.close();
  }
});

describe("through the API", () => {
  let t: TestApp;
  before(async () => {
    t = await startTestApp({ realAuth: true, staticAuthProviders: [oidc.provider()] });
  });
  after(async () => {
    await t.close();
  });

  test("a token without exp, signed by a trusted issuer, lists nothing: Unauthenticated", async () => {
    const devices = createClient(DeviceService, t.transport);
    const good = await oidc.token("root", { roles: ["flightctl-admin"] });
    const noExp = await oidc.token("root", { roles: ["flightctl-admin"] }, { exp: false, iat: -365 * 86400 });
    await devices.listDevices({}, { headers: { authorization: `Bearer ${good}` } });
    await assert.rejects(
      devices.listDevices({}, { headers: { authorization: `Bearer ${noExp}` } }),
      (e: ConnectError) => e.code === Code.Unauthenticated && /"exp" claim/.test(e.rawMessage),
    );
  });
});
