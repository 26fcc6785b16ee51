// A minimal real OIDC issuer for tests: discovery + JWKS over HTTP on loopback, and tokens signed with its key.
// The API verifies them exactly as it verifies any provider's (discovery, JWKS, issuer, audience, expiry).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import type { AuthProvider } from "../../gen/flightctl/v1beta1/authprovider_pb.js";
import { oidcProvider } from "../../server/auth/oidc-provider.js";

export interface TestIssuer {
  url: string;
  clientId: string;
  /** An AuthProvider (oidc) trusting this issuer; roles from the "roles" claim, orgs from "organizations". */
  provider(name?: string): AuthProvider;
  /**
   * A signed access token for `username` with the given claims; `expiresIn` seconds (negative: already expired).
   * `iat`/`nbf` are seconds from now; `exp: false` leaves the expiry out (tokens the API must refuse).
   */
  token(username: string, claims?: Record<string, unknown>, opts?: TokenOptions): Promise<string>;
  close(): Promise<void>;
}

export interface TokenOptions {
  expiresIn?: number;
  audience?: string;
  exp?: false;
  iat?: number | false;
  nbf?: number;
}

/** `discovery`: extra fields of the discovery document (e.g. id_token_signing_alg_values_supported). */
export async function startTestIssuer(clientId = "flightctl-test", discovery: Record<string, unknown> = {}): Promise<TestIssuer> {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: "test-1", alg: "ES256", use: "sig" };
  let url = "";
  const server = http.createServer((req, res) => {
    const send = (body: unknown) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.url === "/.well-known/openid-configuration")
      return send({ issuer: url, jwks_uri: `${url}/jwks`, token_endpoint: `${url}/token`, ...discovery });
    if (req.url === "/jwks") return send({ keys: [jwk] });
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    clientId,
    provider: (name = "test-oidc") => oidcProvider(name, url, clientId),
    async token(username, claims = {}, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT({ preferred_username: username, ...claims })
        .setProtectedHeader({ alg: "ES256", kid: "test-1" })
        .setIssuer(url)
        .setSubject(`sub-${username}`)
        .setAudience(opts.audience ?? clientId);
      if (opts.iat !== false) jwt.setIssuedAt(now + (opts.iat ?? -5));
      if (opts.exp !== false) jwt.setExpirationTime(now + (opts.expiresIn ?? 600));
      if (opts.nbf !== undefined) jwt.setNotBefore(now + opts.nbf);
      return jwt.sign(privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
