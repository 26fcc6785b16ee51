// The issuer's signing key (ES256, generated on first start, kept 0600) and its tokens. Refresh tokens are signed
// JWTs too (token_use "refresh"): the issuer keeps no session table, so it survives restarts and needs no database;
// each refresh re-reads the user's groups, so role changes apply within one access-token lifetime.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JWK, type JWTPayload, type KeyObject } from "jose";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
  publicJwk: JWK;
}

/** Loads the signing key from `<dataDir>/pam-issuer/signing-key.json`, creating it on first start. */
export async function loadSigningKey(dataDir: string): Promise<SigningKey> {
  const dir = join(dataDir, "pam-issuer");
  const file = join(dir, "signing-key.json");
  let jwk: JWK;
  if (existsSync(file)) {
    jwk = JSON.parse(readFileSync(file, "utf8")) as JWK;
  } else {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    jwk = await exportJWK(privateKey);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  }
  const { d: _d, ...pub } = jwk;
  const kid = await calculateJwkThumbprint(pub);
  return { kid, privateKey: (await importJWK(jwk, "ES256")) as CryptoKey, publicJwk: { ...pub, kid, alg: "ES256", use: "sig" } };
}

export interface UserClaims {
  username: string;
  name?: string;
  roles: string[];
  organizations: string[];
}

export interface TokenSettings {
  issuer: string;
  clientId: string;
  accessTtl: number;
  refreshTtl: number;
}

async function sign(key: SigningKey, s: TokenSettings, claims: JWTPayload, subject: string, ttl: number): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setIssuer(s.issuer)
    .setSubject(subject)
    .setAudience(s.clientId)
    .setIssuedAt()
    .setExpirationTime(`${ttl}s`)
    .sign(key.privateKey);
}

/** Access, ID and refresh tokens for a user (OAuth2 token response fields). */
export async function issueTokens(key: SigningKey, s: TokenSettings, user: UserClaims, scope: string, nonce?: string) {
  const profile = { preferred_username: user.username, name: user.name ?? user.username, roles: user.roles, organizations: user.organizations };
  const access = await sign(key, s, { ...profile, scope, token_use: "access" }, user.username, s.accessTtl);
  const id = await sign(key, s, { ...profile, ...(nonce ? { nonce } : {}), token_use: "id" }, user.username, s.accessTtl);
  const refresh = await sign(key, s, { scope, token_use: "refresh" }, user.username, s.refreshTtl);
  return { access_token: access, token_type: "Bearer", id_token: id, refresh_token: refresh, expires_in: s.accessTtl, scope };
}

/** Verifies one of our tokens of the given use; throws on anything else. */
export async function verifyToken(key: SigningKey, s: TokenSettings, token: string, use: "access" | "refresh"): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, await importJWK(key.publicJwk, "ES256"), { issuer: s.issuer, audience: s.clientId, algorithms: ["ES256"] });
  if (payload.token_use !== use) throw new Error(`not an ${use} token`);
  return payload;
}
