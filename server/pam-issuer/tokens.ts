// The issuer's signing key (ES256, generated on first start, kept 0600) and the tokens it signs.
// Access tokens: header typ "at+jwt" (RFC 9068), aud = client id. ID tokens: typ "JWT", aud = client id.
// Refresh tokens: signed JWTs with claim typ "refresh" and aud = the issuer itself, so the API (which wants
// aud = client id) never accepts one as a bearer token; the issuer keeps no session table (see docs/pam-issuer.md).
// A refresh token carries "fam", its family: the id of the login it descends from, kept across rotations.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
  type JWK,
  type JWTPayload,
  type JWTVerifyOptions,
  type KeyObject,
} from "jose";
import { checkTokenTimes } from "../auth/token-policy.js";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey | KeyObject;
  publicKey: CryptoKey | KeyObject;
  publicJwk: JWK;
}

/** Loads the signing key from `<dataDir>/pam-issuer/signing-key.json`, creating it (0600) on first start. */
export async function loadSigningKey(dataDir: string): Promise<SigningKey> {
  const dir = join(dataDir, "pam-issuer");
  const file = join(dir, "signing-key.json");
  if (!existsSync(file)) {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      // "wx": of two processes starting together, the second keeps the first one's key (read below).
      writeFileSync(file, JSON.stringify(await exportJWK(privateKey)), { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  const jwk = JSON.parse(readFileSync(file, "utf8")) as JWK;
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || !jwk.d) throw new Error(`${file} is not a P-256 private JWK`);
  const { kty, crv, x, y } = jwk;
  const pub: JWK = { kty, crv, x, y };
  const kid = await calculateJwkThumbprint(pub);
  return {
    kid,
    privateKey: (await importJWK(jwk, "ES256")) as CryptoKey,
    publicKey: (await importJWK(pub, "ES256")) as CryptoKey,
    publicJwk: { ...pub, kid, alg: "ES256", use: "sig" },
  };
}

/** What a token says about its user. */
export interface UserClaims {
  username: string;
  name: string;
  email?: string;
  roles: string[];
  organizations: string[];
}

export interface TokenSettings {
  issuer: string;
  clientId: string;
  accessTtl: number;
  refreshTtl: number;
  /** Allowed clock difference when verifying our own tokens (several replicas), seconds. */
  clockSkewSec: number;
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  id_token?: string;
  scope: string;
}

function signer(key: SigningKey, s: TokenSettings, claims: JWTPayload, sub: string, ttl: number, typ: string, aud: string) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ })
    .setIssuer(s.issuer)
    .setSubject(sub)
    .setAudience(aud)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
    .sign(key.privateKey);
}

/** The token response for a user: access + refresh tokens, and an ID token when scope has "openid". */
export async function issueTokens(
  key: SigningKey,
  s: TokenSettings,
  user: UserClaims,
  scope: string,
  nonce?: string,
  /** The refresh-token family to continue (a refresh); a login starts a new one. */
  family: string = randomUUID(),
): Promise<TokenResponse> {
  const profile = {
    preferred_username: user.username,
    name: user.name,
    ...(user.email ? { email: user.email } : {}),
    roles: user.roles,
    organizations: user.organizations,
  };
  const access = await signer(key, s, { ...profile, scope, jti: randomUUID() }, user.username, s.accessTtl, "at+jwt", s.clientId);
  const refresh = await signer(
    key,
    s,
    { typ: "refresh", scope, azp: s.clientId, jti: randomUUID(), fam: family },
    user.username,
    s.refreshTtl,
    "JWT",
    s.issuer,
  );
  const out: TokenResponse = { access_token: access, token_type: "Bearer", expires_in: s.accessTtl, refresh_token: refresh, scope };
  if (scope.split(" ").includes("openid")) {
    out.id_token = await signer(key, s, { ...profile, ...(nonce ? { nonce } : {}) }, user.username, s.accessTtl, "JWT", s.clientId);
  }
  return out;
}

/** Our own tokens: ES256 only, exp and iat required, no longer-lived than we issue them, not from the future. */
async function verifyOurs(key: SigningKey, s: TokenSettings, token: string, o: JWTVerifyOptions, ttl: number): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, key.publicKey, {
    ...o,
    issuer: s.issuer,
    algorithms: ["ES256"],
    requiredClaims: ["exp", "iat"],
    clockTolerance: s.clockSkewSec,
  });
  checkTokenTimes(payload, { maxLifetimeSec: ttl, clockSkewSec: s.clockSkewSec });
  return payload;
}

/** Verifies an access token of ours (signature, iss, aud, exp, iat, typ); throws otherwise. */
export async function verifyAccessToken(key: SigningKey, s: TokenSettings, token: string): Promise<JWTPayload> {
  return verifyOurs(key, s, token, { audience: s.clientId, typ: "at+jwt" }, s.accessTtl);
}

/** Verifies a refresh token of ours (with its jti and family); throws otherwise. */
export async function verifyRefreshToken(key: SigningKey, s: TokenSettings, token: string): Promise<RefreshClaims> {
  const payload = await verifyOurs(key, s, token, { audience: s.issuer }, s.refreshTtl);
  if (payload.typ !== "refresh" || payload.azp !== s.clientId || typeof payload.jti !== "string") throw new Error("not a refresh token");
  // Tokens issued before families existed are their own family.
  return { ...payload, fam: typeof payload.fam === "string" ? payload.fam : payload.jti } as RefreshClaims;
}

/** A verified refresh token's claims. */
export type RefreshClaims = JWTPayload & { jti: string; fam: string; exp: number };
