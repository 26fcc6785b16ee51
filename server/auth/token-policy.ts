// What every bearer token must satisfy besides its signature, on every path that verifies one (the PAM issuer's own
// tokens, OIDC providers, OAuth2 JWT introspection): an expiry, a bounded lifetime, no issue or not-before time in
// the future beyond the allowed clock skew, and an asymmetric signature algorithm the provider is pinned to.
import type { JWTPayload } from "jose";

export interface TokenPolicy {
  /** Longest accepted lifetime, `exp - iat` (or `exp - now` without `iat`), seconds. */
  maxLifetimeSec: number;
  /** Allowed clock difference with the issuer, seconds. */
  clockSkewSec: number;
  /** Signature algorithms accepted from providers: public-key ones only ("none" and HS* are never accepted). */
  algorithms: string[];
}

/** Public-key JWS algorithms (RFC 7518, RFC 8037): the only ones a JWKS-verified token may use. */
export const ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];

export const DEFAULT_TOKEN_POLICY: TokenPolicy = { maxLifetimeSec: 24 * 3600, clockSkewSec: 30, algorithms: ASYMMETRIC_ALGORITHMS };

/** Claims jwtVerify must find (`requiredClaims`): a token without an expiry never stops working. */
export const REQUIRED_CLAIMS = ["exp"];

/** An algorithm list with everything but public-key algorithms removed (a configured "HS256" or "none" is dropped). */
export const asymmetricOnly = (algs: readonly string[]) => algs.filter((a) => ASYMMETRIC_ALGORITHMS.includes(a));

/**
 * The checks jwtVerify does not do (it checks exp and nbf; iat only against a maximum age): the lifetime and an
 * `iat` in the future. Throws an Error naming the claim; call after jwtVerify.
 */
export function checkTokenTimes(
  payload: JWTPayload,
  policy: Pick<TokenPolicy, "maxLifetimeSec" | "clockSkewSec">,
  nowSec = Date.now() / 1000,
) {
  if (typeof payload.exp !== "number") throw new TokenPolicyError('the token has no "exp" claim');
  if (payload.iat !== undefined && payload.iat > nowSec + policy.clockSkewSec) throw new TokenPolicyError('"iat" is in the future');
  const lifetime = payload.exp - (payload.iat ?? nowSec);
  if (lifetime > policy.maxLifetimeSec) {
    throw new TokenPolicyError(`the token lives ${Math.round(lifetime)} s, longer than the ${policy.maxLifetimeSec} s allowed`);
  }
}

/** A token refused by the policy (code in jose's style, so callers treat it like jose's own claim failures). */
export class TokenPolicyError extends Error {
  readonly code = "ERR_JWT_CLAIM_VALIDATION_FAILED";
}
